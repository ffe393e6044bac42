"""Numbers from environment variables (limits, sizes), read in one place so a bad value
gives one sentence that names the variable instead of a bare ValueError."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

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


# ---- per-visitor limits ------------------------------------------------------------------
# (variable, hosted default, what it bounds); locally each is off (0) unless the variable is set.
# The README's limits table is written from these lines.
LIMITS = {
    "queued_per_visitor": ("FINETUNE_MAX_QUEUED_PER_VISITOR", 2, "jobs one visitor has waiting"),
    "running_per_visitor": ("FINETUNE_MAX_RUNNING_PER_VISITOR", 1, "jobs one visitor has running"),
    "queue": ("FINETUNE_MAX_QUEUE", 20, "jobs waiting, all visitors together"),
    "run_minutes": ("FINETUNE_MAX_RUN_MINUTES", 60, "minutes one job may run"),
    "run_disk_gb": ("FINETUNE_MAX_RUN_DISK_GB", 10, "gigabytes one run folder may hold"),
    "run_memory_gb": ("FINETUNE_MAX_RUN_MEMORY_GB", None, "gigabytes one job's processes may use"),
    "processes": ("FINETUNE_MAX_PROCESSES", None, "processes one job may start"),
    "upload_ttl_hours": ("FINETUNE_UPLOAD_TTL_HOURS", 24, "hours an upload is kept after use"),
}
EXPORT_TTL = ("FINETUNE_EXPORT_TTL_MINUTES", 60)  # downloads made for the page, everywhere


@dataclass(frozen=True)
class Limits:
    """What one visitor's work may use; 0 means no limit. Read from the environment on each
    use (cheap), so a host changes them without a code edit and a bad value is one sentence."""

    queued_per_visitor: int
    running_per_visitor: int
    queue: int
    run_minutes: float
    run_disk_gb: float
    run_memory_gb: float
    processes: int
    upload_ttl_hours: float
    export_ttl_minutes: float


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def memory_gb() -> float:
    """Physical memory of the machine (0 when unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


def _hosted_default(key: str) -> float:
    """A public Space's default: a job's processes at most the cores; its memory at most
    three quarters of the machine's, so the web server and the OS keep the rest."""
    default = LIMITS[key][1]
    if key == "processes":
        return cores()
    if key == "run_memory_gb":
        return round(memory_gb() * 0.75, 1)
    return float(default)


def limits() -> Limits:
    from finetune_core.host.paths import hosted

    on = hosted()
    values: dict[str, float] = {}
    for key, (name, _, _) in LIMITS.items():
        values[key] = number(name, _hosted_default(key) if on else 0)
    ints = {"queued_per_visitor", "running_per_visitor", "queue", "processes"}
    for key in ints:
        name = LIMITS[key][0]
        if not float(values[key]).is_integer():
            raise ConfigError(f"{name} must be a whole number, not {os.environ.get(name)!r}.")
    return Limits(
        **{k: int(v) if k in ints else v for k, v in values.items()},
        export_ttl_minutes=number(EXPORT_TTL[0], EXPORT_TTL[1], unit="minutes"),
    )
