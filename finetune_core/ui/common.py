"""Pieces every tab shares: the session owner id, the form registry, messages, hosting mode.

The owner id is a random value kept in the browser (localStorage, encrypted with a secret
that survives server restarts), so a refresh or a second tab of the same browser re-attaches
to its jobs while other browsers never see them. API clients (gradio_client) get one per
session from `ensure_owner`.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_core import inert, runs
from finetune_core.host import paths

OK, WARN, ERROR = "ok", "warn", "error"
LOG = logging.getLogger("finetune_core.ui")


def new_owner() -> str:
    return secrets.token_hex(16)


def ensure_owner(owner: str | None) -> str:
    return owner if isinstance(owner, str) and len(owner) >= 16 else new_owner()


def browser_secret() -> str:
    """A per-installation secret for the browser-stored owner id (kept beside the runs)."""
    path = runs.runs_root() / ".dashboard-secret"
    try:
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(16)
        path.write_text(value)
        os.chmod(path, 0o600)
        return value
    except OSError:
        return secrets.token_hex(16)


def on_spaces() -> bool:
    return paths.on_spaces()


def hosted() -> bool:
    """Hosted for others: local paths are restricted and the runs list is per session."""
    return paths.hosted()


def message(text: str | None, kind: str = ERROR) -> str:
    """A one-line notice shown next to the field it is about (empty string hides it)."""
    if not text:
        return ""
    icon = {"ok": "✓", "warn": "!", "error": "✗"}[kind]
    return f'<div class="ft-msg ft-{kind}">{icon} {html.escape(str(text), quote=False)}</div>'


def human(n: float | int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


@dataclass
class Shared:
    """Session values every step reads: who the browser is, the draft run, the token."""

    owner: Any = None  # gr.State: this browser's owner id
    browser_owner: Any = None  # gr.BrowserState: the same id, kept across reloads
    draft: Any = None  # gr.State: the Draft (ui/state.py)
    token: Any = None  # gr.State: the user's Hub token, memory only
    oauth: Any = None  # gr.LoginButton on a Space with OAuth, else None


def guarded(fn: Callable, outputs: int, msg_at: int | None) -> Callable:
    """The boundary around a handler: any exception becomes the step's message (output
    `msg_at`) with every other output left as it was; the traceback goes to the server log."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            import gradio as gr

            LOG.exception("page handler %s failed", getattr(fn, "__name__", fn))
            out: list[Any] = [gr.skip()] * outputs
            if msg_at is not None:
                out[msg_at] = message(
                    f"Something went wrong in this step ({type(exc).__name__}); the details "
                    "are in the server log. Try again, or reload the page."
                )
            return out[0] if outputs == 1 else tuple(out)

    return run


def on(trigger: Callable, fn: Callable, inputs: Any, outputs: list, msg: Any = None, **kw: Any):
    """`trigger(fn, inputs, outputs)` behind the boundary; `msg` is the output that shows
    this step's messages (it must be one of `outputs`)."""
    at = next((i for i, o in enumerate(outputs) if o is msg), None) if msg is not None else None
    return trigger(guarded(fn, len(outputs), at), inputs, outputs, **kw)


def allowed_roots() -> list[Path]:
    """Folders a hosted dashboard may read local data/models from (see finetune_core.host.paths)."""
    return paths.allowed_roots()


def check_local_path(source: str) -> str | None:
    """When hosted, a local path outside the allowed roots is refused (one sentence)."""
    from finetune_core.model import BUNDLED_MODEL

    return None if source == BUNDLED_MODEL else paths.refusal(source)


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def md_text(value: Any) -> str:
    """A dataset- or Hub-provided string made inert inside Markdown/HTML (label names,
    column names, file names): it shows as written and never becomes a tag or a link."""
    return inert.md(value)
