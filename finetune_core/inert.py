"""Data-provided text (class names, column names, file names, cells) made inert for the places
that render markup, so it shows as written and never becomes a tag, a style or a link:
Markdown/HTML (the data card, the model card on the Hub) and plotly's chart text (tick labels,
hover text), which renders <a href>, <b> and <span style> on its own.
"""

from __future__ import annotations

import html
import re
from typing import Any

# inline, these are the characters that start markup ("(" and "!" only after "[")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
# what Markdown renderers turn into links by themselves (GFM autolinks): URLs, www., emails
_AUTOLINK = (("://", ":&#47;&#47;"), ("www.", "www&#46;"), ("WWW.", "WWW&#46;"), ("@", "&#64;"))
LABEL_CHARS = 60  # a chart's tick label; longer names end in "…"


def md(value: Any) -> str:
    """A string shown as itself inside Markdown/HTML: no tag, no emphasis, no link."""
    text = _MARKDOWN.sub(r"\\\1", html.escape(str(value), quote=False))
    for raw, entity in _AUTOLINK:
        text = text.replace(raw, entity)
    return text


def plot(value: Any, limit: int = LABEL_CHARS) -> str:
    """A string for plotly text: its tags shown as text, cut to `limit` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)


def plot_names(values: list[Any], limit: int = LABEL_CHARS) -> list[str]:
    """`plot` for category names, kept distinct (two long names cut alike get a number), so
    no two classes share a bar or a heatmap row."""
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(values):
        name = plot(value, limit)
        if name in seen:
            name = f"{name} #{i + 1}"
        seen.add(name)
        out.append(name)
    return out
