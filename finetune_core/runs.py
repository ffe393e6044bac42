"""The run directory: the single source of truth for one run.

    config.json    resolved config (never a token)
    metrics.jsonl  one JSON object a line, appended as training goes
    status.json    {"state", "error", "step", "max_steps", "started", "updated", ...}
    eval.json      final metrics
    model/         the fine-tuned model (save_pretrained)
    onnx/          `finetune export --format onnx`: model.onnx (+ model_int8.onnx), export.json
    tensorboard/   TensorBoard event files when report_to has tensorboard
    trackio/       trackio's records of a hosted visitor's run (TRACKIO_DIR of its process)
    checkpoints/   Trainer checkpoints for --resume (checkpoint-STEP/)
    stop           present when a stop was requested (read by every process of the run); it
                   may hold the reason, the error of the stopped run (a host's limit)
    error.log      the traceback of a failure (tokens redacted)
    launcher.log   output of an accelerate launcher (multi-process jobs)

This module is the only one that spells these names: everyone else asks RunDir. It also
holds the one status reader (`read_status`: a run left "running" by a dead process reads as
failed) and the bounded cache of incremental metrics readers the dashboard polls (`tail`).

The trainer writes it, the dashboard and CLI only read it, so a page refresh, a second tab,
a subprocess run and a run from last week are shown the same way.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from finetune_core.errors import RunError
from finetune_core.jsonfiles import (  # read_json, parse_lines: also asked for from here
    LinesTail,
    dump_line,
    parse_lines,
    read_json,
    write_atomic,
)

STATES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE = ("queued", "running")
INTERRUPTED = "interrupted: the training process ended without finishing; resume it to go on"
CONFIG, METRICS, STATUS, EVAL = "config.json", "metrics.jsonl", "status.json", "eval.json"
MODEL, CHECKPOINTS, STOP = "model", "checkpoints", "stop"
ONNX, TENSORBOARD, TRACKIO = "onnx", "tensorboard", "trackio"
ERROR_LOG, LAUNCHER_LOG = "error.log", "launcher.log"
NOTES = "notes.json"  # the page's name and note for a run: {"name", "note", "updated"}
# keep_best (train/best.py): the best evaluation's trainable weights and its record
BEST, BEST_WEIGHTS, BEST_RECORD = "best", "trainable.safetensors", "best.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # ISO 8601 UTC


def runs_root() -> Path:
    """Where new runs go by default (FINETUNE_RUNS_DIR, else ./runs)."""
    return Path(os.environ.get("FINETUNE_RUNS_DIR", "runs"))


def default_run_dir(model: str, root: Path | None = None) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(model).rstrip("/")).name or "model")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = (root or runs_root()) / f"{stamp}-{name}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class RunDir:
    """One run directory: its paths, and the writes of the process that trains it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / CONFIG)
    metrics_path = property(lambda self: self.path / METRICS)
    status_path = property(lambda self: self.path / STATUS)
    eval_path = property(lambda self: self.path / EVAL)
    model_dir = property(lambda self: self.path / MODEL)
    onnx_dir = property(lambda self: self.path / ONNX)  # finetune export --format onnx
    tensorboard_dir = property(lambda self: self.path / TENSORBOARD)  # report_to tensorboard
    trackio_dir = property(lambda self: self.path / TRACKIO)  # report_to trackio, hosted
    checkpoints_dir = property(lambda self: self.path / CHECKPOINTS)
    best_dir = property(lambda self: self.path / CHECKPOINTS / BEST)  # keep_best
    best_weights = property(lambda self: self.best_dir / BEST_WEIGHTS)
    best_record = property(lambda self: self.best_dir / BEST_RECORD)
    stop_path = property(lambda self: self.path / STOP)
    error_log_path = property(lambda self: self.path / ERROR_LOG)
    launcher_log_path = property(lambda self: self.path / LAUNCHER_LOG)
    notes_path = property(lambda self: self.path / NOTES)

    def check_new(self, *, resume: bool = False) -> None:
        """Refuse, creating nothing, a folder that holds files (unless resuming) or that
        cannot be created where it is asked for."""
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"Output folder {self.path} is a file; choose another output_dir.")
        if self.path.is_dir() and any(self.path.iterdir()) and not resume:
            raise RunError(
                f"Output folder {self.path} already holds files; choose another output_dir "
                f"or continue it with `finetune train --resume {self.path}`."
            )
        parent = self.path
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise RunError(
                f"Output folder {self.path} is not writable (it cannot be created in "
                f"{parent}); choose a folder you can write to."
            )

    def create(self, *, resume: bool = False) -> None:
        """Make the folder; an existing non-empty one is refused unless resuming."""
        self.check_new(resume=resume)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise RunError(
                f"Output folder {self.path} is not writable ({exc.strerror or exc}); "
                "choose a folder you can write to."
            ) from None

    def check_queued(self) -> None:
        """A folder a job created for a run that has not started yet (status "queued")."""
        if self.read_status().get("state") != "queued" or self.read_config() is None:
            raise RunError(
                f"{self.path} is not a queued run; start a new run, or resume this one with "
                f"`finetune train --resume {self.path}`."
            )

    # ---- reads of this folder ------------------------------------------------------
    def read_config(self) -> dict | None:
        return read_json(self.config_path)

    def read_status(self) -> dict:  # as written; readers want runs.read_status (liveness)
        return read_json(self.status_path) or {}

    def read_eval(self) -> dict | None:
        return read_json(self.eval_path)

    def has_model(self) -> bool:
        return (self.model_dir / "config.json").is_file()

    def last_checkpoint(self) -> Path | None:
        return last_checkpoint(self.path)

    def checkpoint_step(self, checkpoint: Path | None = None) -> int:
        """The step of `checkpoint` (default: the last one); 0 without one."""
        checkpoint = checkpoint or self.last_checkpoint()
        return checkpoint_step(checkpoint) if checkpoint else 0

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    # ---- writes ---------------------------------------------------------------------
    def write_config(self, data: dict) -> None:
        self.write_json(self.config_path, data)

    def stop_reason(self) -> str | None:
        """Why the stop was asked for, when it was a limit (the stopped run's error)."""
        try:
            text = self.stop_path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if text and not _is_number(text) else None

    def clear_stop(self) -> None:
        self.stop_path.unlink(missing_ok=True)

    def mark_running(self, **fields: Any) -> dict:
        """The training process takes the run: its own pid and host are what liveness checks
        watch from now on (for an accelerate job, the child's, not the dashboard's)."""
        return self.write_status(
            state="running", error=None, pid=os.getpid(), host=socket.gethostname(), **fields
        )

    def write_json(self, path: Path, data: dict) -> None:
        """Atomic write: a reader never sees half a file."""
        write_atomic(path, data)

    def write_status(self, **fields: Any) -> dict:
        status = self.read_status() or {
            "state": "queued",
            "error": None,
            "step": 0,
            "max_steps": None,
            "started": now_iso(),
        }
        status.update(fields)
        status["updated"] = now_iso()
        status.setdefault("pid", os.getpid())
        status.setdefault("host", socket.gethostname())
        self.write_json(self.status_path, status)
        return status

    def append_metrics(self, record: dict) -> None:
        line = dump_line(record)
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()

    def truncate_metrics_after(self, step: int) -> None:
        """On resume: drop lines past the checkpoint (they are trained again) and end markers."""
        records = read_metrics(self.path)
        kept = [r for r in records if "event" not in r and r.get("step", 0) <= step]
        tmp = self.metrics_path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(dump_line(r) + "\n" for r in kept))
        os.replace(tmp, self.metrics_path)


# ---- reading ------------------------------------------------------------------------
def read_metrics(path: str | Path) -> list[dict]:
    try:
        text = (Path(path) / METRICS).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return parse_lines(text)


class MetricsTail(LinesTail):
    """The incremental reader of a run's metrics.jsonl (see jsonfiles.LinesTail)."""

    def __init__(self, run_dir: str | Path):
        super().__init__(Path(run_dir) / METRICS)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def effective_status(status: dict | None, *, alive_check: bool = True) -> dict | None:
    """A run left "running" by a dead process is reported as failed (interrupted)."""
    if not status:
        return status
    if (
        alive_check
        and status.get("state") in ACTIVE
        and status.get("host") == socket.gethostname()
        and isinstance(status.get("pid"), int)
        and not _process_alive(status["pid"])
    ):
        return {**status, "state": "failed", "error": INTERRUPTED, "interrupted": True}
    return status


def read_status(path: str | Path) -> dict:
    """THE status of a run, for every reader (page, script API, CLI, jobs): status.json with a
    run left "queued"/"running" by a dead process turned into failed (interrupted); {} when the
    folder has no status yet."""
    return effective_status(RunDir(path).read_status()) or {}


# One incremental reader per run, shared by every poll; bounded (least recently used out) so a
# long-lived dashboard does not keep a reader for every run it ever showed.
TAILS: OrderedDict[str, MetricsTail] = OrderedDict()
MAX_TAILS = 64
_TAILS_LOCK = threading.Lock()


def tail(run_dir: str | Path) -> list[dict]:
    """The metrics of a run so far, parsing only what was appended since the last poll."""
    key = str(Path(run_dir).resolve())
    with _TAILS_LOCK:
        reader = TAILS.pop(key, None) or MetricsTail(run_dir)
        TAILS[key] = reader
        while len(TAILS) > MAX_TAILS:
            TAILS.popitem(last=False)
    return reader.read()


@dataclass
class RunView:
    """Everything the dashboard shows about a run, read from disk."""

    path: Path
    status: dict
    config: dict
    metrics: list[dict] = field(default_factory=list)
    eval: dict | None = None

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")


def read_run(path: str | Path, *, metrics: bool = True) -> RunView:
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path} is not a run folder.")
    rd = RunDir(path)
    return RunView(
        path=path,
        status=read_status(path) or {"state": "unknown"},
        config=rd.read_config() or {},
        metrics=read_metrics(path) if metrics else [],
        eval=rd.read_eval(),
    )


def list_runs(root: str | Path | None = None) -> list[RunView]:
    """Runs under a folder, newest first (without their metrics, for a cheap listing)."""
    root = Path(root) if root else runs_root()
    if not root.is_dir():
        return []
    views = []
    for child in root.iterdir():
        if (child / STATUS).exists() or (child / CONFIG).exists():
            views.append(read_run(child, metrics=False))
    views.sort(key=lambda v: v.status.get("started") or "", reverse=True)
    return views


def request_stop(path: str | Path, reason: str | None = None) -> None:
    """Ask a run (thread or any process of a distributed run) to stop after this step; a
    reason (one sentence) becomes the stopped run's error."""
    Path(path, STOP).write_text(reason or str(time.time()), encoding="utf-8")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def checkpoint_name(step: int) -> str:
    """The folder name the Trainer gives the checkpoint of `step` (inside checkpoints/)."""
    return f"checkpoint-{step}"


def checkpoint_step(checkpoint: str | Path) -> int:
    """The step a checkpoint folder (checkpoint-STEP) was saved at."""
    m = _CHECKPOINT.fullmatch(Path(checkpoint).name)
    if not m:
        raise RunError(f"{checkpoint} is not a checkpoint folder (checkpoint-STEP).")
    return int(m.group(1))


def last_checkpoint(path: str | Path) -> Path | None:
    """The newest complete checkpoint of a run (one the Trainer finished writing)."""
    ckpts = Path(path) / CHECKPOINTS
    if not ckpts.is_dir():
        return None
    found = []
    for child in ckpts.iterdir():
        if _CHECKPOINT.fullmatch(child.name) and (child / "trainer_state.json").exists():
            found.append((checkpoint_step(child), child))
    return max(found)[1] if found else None
