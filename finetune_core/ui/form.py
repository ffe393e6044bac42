"""The run form, generated from RunConfig's field declarations (label, help, range, step).

A config key is declared once, in config.py; this module turns each field into a widget,
the widgets' values into a validated RunConfig, and a RunConfig back into widget values (a
config upload, a re-attached run). A field declared without page metadata still appears,
under Advanced with its name as the label.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from finetune_core.config import RunConfig
from finetune_core.config.choices import TRACKERS
from finetune_core.config.fields import HIDDEN, FieldUI, field_ui

NONE = "(none)"  # the column pickers' "not set" choice
COLUMN_KEYS = ("text_column", "image_column", "label_column")
# rendered by the freezing step as one checkbox per layer group, not as a plain widget
CUSTOM = ("freeze",)
ROW = 4  # widgets per row in a generated group
# list keys picked from a fixed set: a multi-select, not a comma-separated text box
MULTI = {"report_to": TRACKERS}


def fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(RunConfig))


def form_keys() -> list[str]:
    """Every key the page edits through a widget (hidden ones and `freeze` excepted)."""
    return [f.name for f in fields() if field_ui(f).group != HIDDEN and f.name not in CUSTOM]


def keys_of(group: str) -> list[str]:
    return [k for k in form_keys() if field_ui(_field(k)).group == group]


def _field(key: str) -> dataclasses.Field:
    return next(f for f in fields() if f.name == key)


def _kind(f: dataclasses.Field) -> str:
    typ = str(f.type)
    if typ.startswith("bool"):
        return "bool"
    if typ.startswith(("int", "float")) and "None" not in typ:
        return "number"
    return "text"


def elem_id(key: str) -> str:
    return key.replace("_", "-")


def widget(key: str, **overrides: Any) -> Any:
    """The gradio component for one config key, built from its declaration."""
    import gradio as gr

    f = _field(key)
    meta: FieldUI = field_ui(f)
    kw: dict[str, Any] = {"label": meta.label, "elem_id": elem_id(key)}
    if meta.help:
        kw["info"] = meta.help
    default = f.default if f.default is not dataclasses.MISSING else None
    if key in COLUMN_KEYS:
        kw.update(choices=[NONE], value=NONE, allow_custom_value=True)
        return gr.Dropdown(**{**kw, **overrides})
    if key in MULTI:
        kw.update(choices=list(MULTI[key]), value=list(default or []), multiselect=True)
        return gr.Dropdown(**{**kw, **overrides})
    if meta.choices:
        kw.update(choices=list(meta.choices), value=default)
        return gr.Dropdown(**{**kw, **overrides})
    kind = _kind(f)
    if kind == "bool":
        return gr.Checkbox(**{**kw, "value": bool(default), **overrides})
    if kind == "number":
        kw["value"] = default
        if str(f.type).startswith("int"):
            kw["precision"] = 0
        if meta.low is not None and not meta.low_open:
            kw["minimum"] = meta.low
        if meta.high is not None:
            kw["maximum"] = meta.high
        return gr.Number(**{**kw, **overrides})
    kw.update(value=_text(default), placeholder=meta.placeholder or None)
    return gr.Textbox(**{**kw, **overrides})


def render_group(group: str, **overrides: dict[str, Any]) -> dict[str, Any]:
    """Widgets for every key of one step, ROW to a row, in declaration order. Keys that no
    step places (no metadata: a newly added key) are rendered with ADVANCED."""
    import gradio as gr

    keys = keys_of(group)
    out: dict[str, Any] = {}
    for start in range(0, len(keys), ROW):
        with gr.Row():
            for key in keys[start : start + ROW]:
                out[key] = widget(key, **overrides.get(key, {}))
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


# ---- values <-> config ---------------------------------------------------------------
def to_data(values: dict[str, Any]) -> dict[str, Any]:
    """Widget values -> config mapping: an empty box means "detect"/"all" for a key that may
    be null, and the default for one that may not; the schema coerces the rest."""
    data: dict[str, Any] = {}
    by_name = {f.name: f for f in fields()}
    for key, value in values.items():
        if key not in by_name:
            continue
        empty = value is None or value == NONE or (isinstance(value, str) and not value.strip())
        if empty and key not in ("model", "dataset"):
            if "None" in str(by_name[key].type):
                data[key] = None
            continue
        data[key] = value
    return data


def to_values(cfg: RunConfig) -> dict[str, Any]:
    """A config as widget values for every form key (the inverse of `to_data`)."""
    out: dict[str, Any] = {}
    for key in form_keys():
        value = getattr(cfg, key)
        f = _field(key)
        if key in COLUMN_KEYS:
            out[key] = value or NONE
        elif key in MULTI:
            out[key] = list(value or [])
        elif field_ui(f).choices or _kind(f) != "text":
            out[key] = value
        else:
            out[key] = _text(value)
    return out


def page_words(text: str) -> str:
    """A config message in the page's words: `label_column` becomes "Label column". Plain
    words that are also keys ("model", "epochs") change only where they name the key."""
    for f in fields():
        meta = f.metadata.get("ui")
        if not isinstance(meta, FieldUI):
            continue
        key = re.escape(f.name)
        named = rf"'{key}'|\b{key}\b" if "_" in f.name else rf"'{key}'|^{key}\b(?= must| need)"
        text = re.sub(named, f'"{meta.label}"', text)
    return text
