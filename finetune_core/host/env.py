"""Numbers from environment variables (limits, sizes), read in one place so a bad value
gives one sentence that names the variable instead of a bare ValueError."""

from __future__ import annotations

import math
import os

from finetune_core.errors import ConfigError


def number(name: str, default: float, *, unit: str = "") -> float:
    """The variable as a non-negative finite number, `default` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        what = f"a number of {unit}" if unit else "a number"
        raise ConfigError(f"{name} must be {what}, not {raw!r}; fix it or unset it.")
    return value


def whole(name: str, default: int, *, unit: str = "") -> int:
    """The variable as a non-negative whole number."""
    value = number(name, default, unit=unit)
    if not value.is_integer():
        raise ConfigError(f"{name} must be a whole number, not {os.environ.get(name)!r}.")
    return int(value)
