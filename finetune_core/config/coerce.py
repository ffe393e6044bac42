"""Turn loose values (CLI strings, YAML, form fields) into a config key's declared type, or
say in one short sentence why not; never echo a value at length (it may be an alias bomb)."""

from __future__ import annotations

import math
import types
import typing
from typing import Any

from finetune_core.config.choices import CLASS_WEIGHTS, FREEZE_PRESETS
from finetune_core.errors import ConfigError


def _parts(hint: Any) -> tuple[set[Any], bool]:
    """The non-None members of a type (`int | None` -> ({int}, True)) and whether None is one."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = set(typing.get_args(hint))
    else:
        args = {hint}
    nullable = type(None) in args
    return {typing.get_origin(a) or a for a in args - {type(None)}}, nullable


def coerce(key: str, value: Any, hint: Any) -> Any:
    """Turn strings from the CLI or loose YAML into the field's declared type, or explain why
    not in one short sentence (a value is never echoed at length: it may be an alias bomb)."""
    kinds, nullable = _parts(hint)
    if key == "report_to":
        return _names(key, value)
    if key in ("model", "dataset") and (value is None or value == ""):
        return ""  # validate() says what to put there
    if key == "freeze" and value in FREEZE_PRESETS:
        return value
    if key == "class_weight" and value in CLASS_WEIGHTS:
        return value  # "none" is a choice here, not null
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "")):
        if nullable:
            return None
        if key == "freeze":
            raise ConfigError("freeze cannot be empty; use 'auto', 'backbone', 'none' or a list.")
        raise ConfigError(f"{key} needs a value; it cannot be null.")
    if list in kinds:
        if isinstance(value, list | tuple):
            if key == "freeze":
                return list(value)  # validate() names the non-string items
            if not all(isinstance(v, str | int | float) for v in value):
                raise ConfigError(f"{key} must be a list of strings.")
            return [str(v) for v in value]
        if isinstance(value, str):
            if str in kinds and value in FREEZE_PRESETS:
                return value
            return [part.strip() for part in value.split(",") if part.strip()]
        if key == "freeze":
            raise ConfigError(
                "freeze must be 'auto', 'backbone', 'none' or a list of layer-group names."
            )
        raise ConfigError(f"{key} must be a list of strings, not {_show(value)}.")
    if key == "freeze_plan":
        if not isinstance(value, dict):
            raise ConfigError("freeze_plan is filled in by the run; remove it from the config.")
        return value
    if bool in kinds:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key} must be true or false, not {_show(value)}.")
    if int in kinds:
        return _as_number(key, value, int)
    if float in kinds:
        return _as_number(key, value, float)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(_as_number(key, value, type(value)))
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a text value, not {type(value).__name__}.")
    return value


def _names(key: str, value: Any) -> list[str]:
    """A list of names from a YAML list or a comma-separated string ("a,b"); null or "none"
    is the empty list. Repeats are dropped, the order kept."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of names, such as [tensorboard, trackio].")
    names = [v.strip() for v in value if v.strip()]
    return list(dict.fromkeys(names))


def _show(value: Any) -> str:
    """A short rendering of a user's value for a message: never a huge repr (a nested alias
    bomb expands to billions of items; a 4,300-digit int cannot even be printed)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**30 else "a number too large"
    if isinstance(value, float):
        return repr(value)
    return f"a {type(value).__name__}"


def _as_number(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, not {_show(value)}.")
    if isinstance(value, int) and abs(value) >= 10**30:
        raise ConfigError(f"{key} must be a number below 10**30, not {_show(value)}.")
    try:
        number = float(value) if not isinstance(value, int | float) else value
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, not {_show(value)}.") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError(f"{key} must be a finite number, not {_show(value)}.")
    if kind is int:
        if float(number) != int(number):
            raise ConfigError(f"{key} must be a whole number, not {_show(value)}.")
        return int(number)
    return float(number)


def _check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {_show(value)}.")


def _check_range(
    key: str, value: float, *, low: float, high: float, low_open: bool = False
) -> None:
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = f"greater than {low}" if low_open else f"at least {low}"
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        raise ConfigError(f"{key} must be {bound} and at most {high}, not {_show(shown)}.")
