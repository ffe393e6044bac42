"""The run folder's files and paths: the only place their names are spelled (RunDir), its
atomic low-level writes, checkpoint steps, and where new runs go. What goes into status.json
and metrics.jsonl, and when, is the writer's (writer.py); reading them is read.py's.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from finetune_core.errors import RunError
from finetune_core.jsonfiles import dump_line, read_json, write_atomic

CONFIG, REQUEST, METRICS, STATUS, EVAL = (
    "config.json",
    "request.json",
    "metrics.jsonl",
    "status.json",
    "eval.json",
)
MODEL, CHECKPOINTS, STOP = "model", "checkpoints", "stop"
ONNX, TENSORBOARD, TRACKIO = "onnx", "tensorboard", "trackio"
ERROR_LOG, LAUNCHER_LOG = "error.log", "launcher.log"
NOTES = "notes.json"  # the page's name and note for a run: {"name", "note", "updated"}
OWNER = "owner.json"  # who may see the run: {"owner": sha256 of the key, "job_id", ...}
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
    """One run directory: its paths, its files as written, and the low-level writes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / CONFIG)
    request_path = property(lambda self: self.path / REQUEST)
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
    owner_path = property(lambda self: self.path / OWNER)

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
        if self.read_status().get("state") != "queued" or self.read_request() is None:
            raise RunError(
                f"{self.path} is not a queued run; start a new run, or resume this one with "
                f"`finetune train --resume {self.path}`."
            )

    # ---- the files as written (typed readers: read.py; the writer: writer.py) ----------
    def read_config(self) -> dict | None:
        """config.json: the resolved run (None until the run has resolved it)."""
        return read_json(self.config_path)

    def read_request(self) -> dict | None:
        """request.json: what the user or API asked for (older runs: their config.json)."""
        return read_json(self.request_path) or (
            None if self.request_path.exists() else read_json(self.config_path)
        )

    def read_status(self) -> dict:  # as written; readers want runs.read_status (typed, liveness)
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

    def stop_reason(self) -> str | None:
        """Why the stop was asked for, when it was a limit (the stopped run's error)."""
        try:
            text = self.stop_path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if text and not _is_number(text) else None

    def clear_stop(self) -> None:
        self.stop_path.unlink(missing_ok=True)

    # ---- low-level writes (status and metrics go through writer.RunWriter) --------------
    def write_json(self, path: Path, data: dict) -> None:
        """Atomic write: a reader never sees half a file."""
        write_atomic(path, data)

    def append_line(self, path: Path, record: dict) -> None:
        """One JSON line appended (metrics.jsonl); a crash mid-write tears at most this line."""
        with path.open("a", encoding="utf-8") as f:
            f.write(dump_line(record) + "\n")
            f.flush()

    def rewrite_lines(self, path: Path, records: list[dict]) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(dump_line(r) + "\n" for r in records))
        os.replace(tmp, path)


def request_stop(path: str | Path, reason: str | None = None) -> None:
    """Ask a run (thread or any process of a distributed run) to stop after this step; a
    reason (one sentence) becomes the stopped run's error. A folder that is gone has nothing
    to stop."""
    if Path(path).is_dir():
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
