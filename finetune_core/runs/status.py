"""status.json as a type: `RunStatus`, the states a run moves through, and liveness (a run
left "queued" or "running" by a process that is gone reads as "interrupted").

    queued -> running -> completed | stopped | failed
    queued | running  -> interrupted   (the process that held it died: kill -9, a restart)
    stopped | failed | interrupted -> running again (resume, same folder)

Only the writer (writer.py) writes it; every reader gets a RunStatus from read.py.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STATES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "running")
FINISHED = ("completed", "stopped", "failed", "interrupted")
RESUMABLE = ("stopped", "failed", "interrupted")  # continue from the last checkpoint
INTERRUPTED = "the training process ended without finishing; resume it to go on"
CORE = ("state", "error", "step", "max_steps", "started", "updated", "phase", "warnings")
HEARTBEAT_SECONDS = 60.0  # a running trainer rewrites "updated" at least this often
STALE_SECONDS = 600.0  # ... so a run on another host silent for this long is gone


@dataclass
class RunStatus:
    """What status.json holds (README, "Run folder"). Keys this version does not know are kept
    in `extra` and written back, so an older reader never drops a newer writer's facts."""

    state: str = "queued"
    error: str | None = None
    step: int = 0
    max_steps: int | None = None
    epoch: float | None = None
    started: str | None = None  # ISO 8601 UTC
    updated: str | None = None
    phase: str | None = None  # phases.py; None between phases and once finished
    phase_done: int | None = None
    phase_total: int | None = None
    phase_started: str | None = None  # when the phase began: the page's time left for it
    # the process that holds the run (the trainer; for a queued run the dashboard)
    pid: int | None = None
    host: str | None = None
    process_started: int | None = None  # its start time (clock ticks after boot): pid reuse
    last_checkpoint: int | None = None
    # what the run found out (written as it goes)
    device: str | None = None
    eval_source: str | None = None  # the selection split (evaluated every epoch)
    report_source: str | None = None  # the split eval.json reports on (data/splits.py)
    train_rows: int | None = None
    eval_rows: int | None = None
    report_rows: int | None = None
    samples_per_step: int | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    freeze_plan: dict | None = None
    feature_cache: str | None = None
    learning_rate_search: dict | None = None
    class_weights: list | None = None
    warnings: list = field(default_factory=list)
    pushed_checkpoint: int | None = None
    push_error: str | None = None
    extra: dict = field(default_factory=dict)
    # the facts a writer set (None included): written even when None, the rest only once known
    present: frozenset = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict | None) -> RunStatus:
        """A status from status.json as written; a value of the wrong type (a hand edit, an
        older version) is dropped for its default rather than breaking every reader."""
        data = data if isinstance(data, dict) else {}
        kinds = _kinds()
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("extra", "present") or key not in kinds:
                extra[str(key)] = value
            elif _accepts(kinds[key], value):
                known[key] = value
        return cls(**known, extra=extra, present=frozenset(known))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the core keys always, a fact only once the run found it out."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra, present = data.pop("extra"), data.pop("present")
        data = {k: v for k, v in data.items() if k in CORE or k in present or v is not None}
        return {**extra, **data}

    def with_(self, **changes: Any) -> RunStatus:
        """A copy with these fields changed; an unknown name raises TypeError (a typo in a
        writer fails its test instead of writing a key no reader knows)."""
        if {"extra", "present"} & set(changes):
            raise TypeError("extra and present are not status fields")
        return dataclasses.replace(self, **changes, present=self.present | set(changes))

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE

    def reached(self) -> str:
        """"step 120 of 300", for the sentences that say where a run ended."""
        return f"step {self.step} of {self.max_steps}" if self.max_steps else f"step {self.step}"


@typing.no_type_check
def _kinds() -> dict[str, tuple[type, ...]]:
    hints = typing.get_type_hints(RunStatus)
    out = {}
    for name, hint in hints.items():
        args = typing.get_args(hint) or (hint,)
        out[name] = tuple(typing.get_origin(a) or a for a in args)
    return out


def _accepts(kinds: tuple[type, ...], value: Any) -> bool:
    if value is None:
        return type(None) in kinds
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


# ---- liveness ------------------------------------------------------------------------
def identity() -> dict[str, Any]:
    """This process, as status.json records the holder of a run."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "process_started": process_started(pid)}


def process_started(pid: int) -> int | None:
    """When a process started (clock ticks after boot, /proc/PID/stat field 22), so a pid
    reused by another process after a restart (a container's pid 1) is not taken for the
    trainer; None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
        return int(text.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _age(iso: str | None) -> float | None:
    try:
        then = datetime.strptime(str(iso), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return time.time() - then.timestamp()


def gone(status: RunStatus) -> bool:
    """Whether the process that holds an active run is gone: on this host its pid is dead
    (or now another process's); on another host a running trainer's heartbeat stopped."""
    if not status.active:
        return False
    if status.host == socket.gethostname():
        if not isinstance(status.pid, int):
            return False
        if not _alive(status.pid):
            return True
        now = process_started(status.pid)
        return None not in (now, status.process_started) and now != status.process_started
    age = _age(status.updated)
    return status.state == "running" and age is not None and age > STALE_SECONDS


def interpreted(status: RunStatus) -> RunStatus:
    """The status every reader shows: an active run whose process is gone is interrupted,
    with the step it reached."""
    if not gone(status):
        return status
    error = f"interrupted at {status.reached()}: {INTERRUPTED}"
    return status.with_(state="interrupted", error=error, phase=None)
