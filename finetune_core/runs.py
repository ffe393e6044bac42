"""The run directory: the single source of truth for one run.

    config.json    resolved config (never a token)
    metrics.jsonl  one JSON object a line, appended as training goes
    status.json    {"state", "error", "step", "max_steps", "started", "updated", ...}
    eval.json      final metrics
    model/         the fine-tuned model (save_pretrained)
    onnx/          `finetune export --format onnx`: model.onnx (+ model_int8.onnx), export.json
    tensorboard/   TensorBoard event files when report_to has tensorboard
    checkpoints/   Trainer checkpoints for --resume
    stop           present when a stop was requested (read by every process of the run)

The trainer writes it, the dashboard and CLI only read it, so a page refresh, a second tab,
a subprocess run and a run from last week are shown the same way.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from finetune_core.errors import RunError

STATES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE = ("queued", "running")
INTERRUPTED = "interrupted: the training process ended without finishing; resume it to go on"


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _finite(record: dict) -> dict:
    """JSON has no NaN: non-finite floats are written as strings ("nan", "inf")."""
    out = {}
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        out[key] = value
    return out


class RunDir:
    """Writer side of a run directory (used by the training process only)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    eval_path = property(lambda self: self.path / "eval.json")
    model_dir = property(lambda self: self.path / "model")
    onnx_dir = property(lambda self: self.path / "onnx")  # finetune export --format onnx
    tensorboard_dir = property(lambda self: self.path / "tensorboard")  # report_to tensorboard
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    stop_path = property(lambda self: self.path / "stop")

    def create(self, *, resume: bool = False) -> None:
        """Make the folder; an existing non-empty one is refused unless resuming."""
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise RunError(
                f"Output folder {self.path} already holds files; choose another output_dir "
                f"or continue it with `finetune train --resume {self.path}`."
            )
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

    def write_json(self, path: Path, data: dict) -> None:
        """Atomic write: a reader never sees half a file."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_finite(data), indent=2, default=_json_default) + "\n")
        os.replace(tmp, path)

    def write_status(self, **fields: Any) -> dict:
        status = read_json(self.status_path) or {
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
        line = json.dumps(_finite(record), default=_json_default)
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()

    def truncate_metrics_after(self, step: int) -> None:
        """On resume: drop lines past the checkpoint (they are trained again) and end markers."""
        records = read_metrics(self.path)
        kept = [r for r in records if "event" not in r and r.get("step", 0) <= step]
        tmp = self.metrics_path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, default=_json_default) + "\n" for r in kept))
        os.replace(tmp, self.metrics_path)


# ---- reading ------------------------------------------------------------------------
def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, NotADirectoryError):
        return None


def parse_lines(text: str) -> list[dict]:
    """Parse complete JSON lines; a torn or corrupt line (a crash mid-write) is skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def read_metrics(path: str | Path) -> list[dict]:
    try:
        text = (Path(path) / "metrics.jsonl").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return parse_lines(text)


class MetricsTail:
    """Incremental reader: each `read()` parses only what was appended since the last one.

    One reader is shared by every poll of a run (many tabs, server threads at once), so reads
    are serialized: two threads reading the same new chunk would otherwise both append it.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.offset = 0
        self.records: list[dict] = []
        self._lock = threading.Lock()

    def read(self) -> list[dict]:
        """The records so far (a snapshot: later reads do not change it)."""
        with self._lock:
            self._read_new()
            return list(self.records)

    def _read_new(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.offset:  # rewritten (resume truncation): start over
            self.offset, self.records = 0, []
        if size == self.offset:
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n") + 1  # only complete lines; a partial one waits
        self.offset += end
        self.records.extend(parse_lines(chunk[:end].decode("utf-8", errors="replace")))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
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
    status = effective_status(read_json(path / "status.json")) or {"state": "unknown"}
    return RunView(
        path=path,
        status=status,
        config=read_json(path / "config.json") or {},
        metrics=read_metrics(path) if metrics else [],
        eval=read_json(path / "eval.json"),
    )


def list_runs(root: str | Path | None = None) -> list[RunView]:
    """Runs under a folder, newest first (without their metrics, for a cheap listing)."""
    root = Path(root) if root else runs_root()
    if not root.is_dir():
        return []
    views = []
    for child in root.iterdir():
        if (child / "status.json").exists() or (child / "config.json").exists():
            views.append(read_run(child, metrics=False))
    views.sort(key=lambda v: v.status.get("started") or "", reverse=True)
    return views


def request_stop(path: str | Path) -> None:
    """Ask a run (thread or any process of a distributed run) to stop after this step."""
    Path(path, "stop").write_text(str(time.time()))


def last_checkpoint(path: str | Path) -> Path | None:
    ckpts = Path(path) / "checkpoints"
    if not ckpts.is_dir():
        return None
    found = []
    for child in ckpts.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if m and (child / "trainer_state.json").exists():
            found.append((int(m.group(1)), child))
    return max(found)[1] if found else None
