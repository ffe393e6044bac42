"""Reading run folders, for every reader (page, script API, CLI, jobs): the typed status with
liveness (`read_status`), the metrics so far (`read_metrics`, and `tail`, the bounded cache of
incremental readers the page polls), one run's view (`read_run`) and the listing of a runs
folder (`list_runs`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from finetune_core.errors import RunError
from finetune_core.jsonfiles import LinesTail, parse_lines
from finetune_core.runs.folder import CONFIG, METRICS, REQUEST, STATUS, RunDir, runs_root
from finetune_core.runs.status import RunStatus, interpreted


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


def read_status(path: str | Path) -> RunStatus:
    """THE status of a run, for every reader: status.json as a RunStatus, with a run left
    "queued"/"running" by a process that is gone read as "interrupted" (status.gone); a folder
    without a readable status.json reads as "unknown" (never as a run still going)."""
    written = RunDir(path).read_status()
    if not written:
        return RunStatus(state="unknown")
    return interpreted(RunStatus.from_dict(written))


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
    """Everything the dashboard shows about a run, read from disk: the status, the resolved
    config (config.json; the request until the run resolved it), the request as asked."""

    path: Path
    status: RunStatus
    config: dict
    request: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    eval: dict | None = None

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def resolved(self) -> bool:
        """Whether config.json (the resolved run) exists yet."""
        return RunDir(self.path).config_path.is_file()


def read_run(path: str | Path, *, metrics: bool = True) -> RunView:
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path} is not a run folder.")
    rd = RunDir(path)
    request = rd.read_request() or {}
    return RunView(
        path=path,
        status=read_status(path),
        config=rd.read_config() or request,
        request=request,
        metrics=read_metrics(path) if metrics else [],
        eval=rd.read_eval(),
    )


def is_run(path: Path) -> bool:
    return any((path / name).exists() for name in (STATUS, CONFIG, REQUEST))


def list_runs(root: str | Path | None = None) -> list[RunView]:
    """Runs under a folder, newest first (without their metrics, for a cheap listing)."""
    root = Path(root) if root else runs_root()
    if not root.is_dir():
        return []
    views = [read_run(child, metrics=False) for child in root.iterdir() if is_run(child)]
    views.sort(key=lambda v: v.status.started or "", reverse=True)
    return views
