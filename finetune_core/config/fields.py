"""How a config key appears on the page: the metadata RunConfig's fields carry.

config.py declares each key once, with `setting(default, label, step, help, range...)`; the
page builds its form from that (ui/form.py) and `RunConfig.validate` enforces the ranges, so
a new key needs one edit. A field declared without it still appears, under Advanced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# The step of the page a key appears on; HIDDEN keys are set by the dashboard, not the form.
STEPS = ("model", "data", "head", "train", "advanced", "hidden")
MODEL_STEP, DATA_STEP, HEAD_STEP, TRAIN_STEP, ADVANCED, HIDDEN = STEPS


@dataclass(frozen=True)
class FieldUI:
    """Label, help and step on the page; the numeric range `validate` enforces (open at the
    low end with `low_open`); the allowed values; the empty box's placeholder."""

    label: str
    help: str = ""
    group: str = ADVANCED
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None
    placeholder: str = ""


def setting(default: Any, label: str, group: str = ADVANCED, help: str = "", **kw: Any) -> Any:
    """A dataclass field with its page metadata (a callable default is a factory: `list`)."""
    meta = {"ui": FieldUI(label, help, group, **kw)}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def field_ui(f: dataclasses.Field) -> FieldUI:
    """A field's page metadata; one declared without it lands in Advanced under its name."""
    meta = f.metadata.get("ui")
    return meta if isinstance(meta, FieldUI) else FieldUI(label=f.name)
