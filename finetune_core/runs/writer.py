"""The one writer of a run folder: status.json and the metrics lines, config.json, request.json,
eval.json and error.log, each written by one method that says what it means.

    writer = RunWriter(run_dir)         # rank 0 writes; every other process: no-op
    writer.queue(request)               # request.json (what was asked), status "queued"
    writer.start(step=0)                # this process holds the run: "running", its identity
    writer.phase(phases.LOADING_DATA)   # where it is before and after the training steps
    writer.resolved(config)             # config.json: the resolved run, once resolved
    writer.progress(step, max_steps=...)
    writer.log(records.Log(...))        # a metrics line
    writer.finish("completed")          # the final status and the end line, together

As accelerate's `PartialState.on_main_process` does, which process writes is decided here
once (`on_main_process`): code that writes never carries an `is_main` flag. A running trainer
also rewrites "updated" every HEARTBEAT_SECONDS from a daemon thread, so a reader on another
host can tell a quiet run from one whose machine went away (status.gone).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune_core.errors import RunError, redact
from finetune_core.runs import phases
from finetune_core.runs import status as status_mod
from finetune_core.runs.folder import RunDir, now_iso
from finetune_core.runs.records import End, Log, Trial, parse
from finetune_core.runs.status import FINISHED, RunStatus, identity

PhaseListener = Callable[[str, int | None, int | None], None]


def on_main_process() -> bool:
    """Rank 0 of a multi-process run (torchrun and accelerate set RANK), or the only process."""
    rank = os.environ.get("RANK", "0")
    return not rank.isdigit() or int(rank) == 0


class RunWriter:
    def __init__(
        self,
        run: RunDir | str | Path,
        *,
        main: bool | None = None,
        on_phase: PhaseListener | None = None,
    ):
        self.run = run if isinstance(run, RunDir) else RunDir(run)
        self.main = on_main_process() if main is None else main
        self.on_phase = on_phase  # the CLI's progress line
        self._lock = threading.RLock()
        self._phase: str | None = None
        self._phase_written = 0.0
        self._progress_written = 0.0
        self._beat: threading.Event | None = None

    # ---- status ---------------------------------------------------------------------
    def read(self) -> RunStatus:
        """status.json as written (no liveness: this is the holder's own view)."""
        return RunStatus.from_dict(self.run.read_status())

    def _update(self, **changes: Any) -> RunStatus:
        with self._lock:
            current = self.read()
            if current.started is None:
                changes.setdefault("started", now_iso())
            new = current.with_(**changes, updated=now_iso())
            self.run.write_json(self.run.status_path, new.to_dict())
            return new

    def queue(self, request: dict[str, Any]) -> None:
        """A new run: what the user or API asked (request.json, written once) and status
        "queued" held by this process (the dashboard, until a trainer takes it)."""
        if not self.main:
            return
        if self.run.request_path.exists():
            raise RunError(f"{self.run.path} already has a request; start a new run folder.")
        self.run.write_json(self.run.request_path, request)
        self._update(state="queued", error=None, step=0, max_steps=None, **identity())

    def start(self, *, step: int = 0) -> None:
        """This process takes the run: "running" with its own pid and host (what liveness
        watches from now on: for an accelerate job the child's, not the dashboard's)."""
        if not self.main:
            return
        self.run.clear_stop()
        self._phase = None
        self._update(
            state="running",
            error=None,
            step=step,
            phase=None,
            phase_done=None,
            phase_total=None,
            **identity(),
        )
        self._start_heartbeat()

    def phase(self, name: str, done: int | None = None, total: int | None = None) -> None:
        """Enter a phase (phases.py), or count examples within it: a new phase and the last
        count are written at once, counts in between at most once a second."""
        if name not in phases.ALL:
            raise ValueError(f"unknown phase {name!r}; phases.py lists them")
        if not self.main:
            return
        if self.on_phase:
            self.on_phase(name, done, total)
        now = time.monotonic()
        last = done is not None and total is not None and done >= total
        if name != self._phase or last or done is None or now - self._phase_written >= 1.0:
            changes: dict[str, Any] = {"phase": name, "phase_done": done, "phase_total": total}
            if name != self._phase:
                changes["phase_started"] = now_iso()
            self._phase, self._phase_written = name, now
            self._update(**changes)

    def say(self, sentence: str) -> None:
        """A decision worth a line in the terminal (the freeze plan): to the listener only;
        status.json holds it in its own key."""
        if self.main and self.on_phase:
            self.on_phase(sentence, None, None)

    def progress(
        self,
        step: int,
        *,
        max_steps: int | None = None,
        epoch: float | None = None,
        checkpoint: bool = False,
        force: bool = False,
    ) -> None:
        """Training progress: at most one write a second, except a checkpoint or `force`."""
        if not self.main:
            return
        now = time.monotonic()
        if not (force or checkpoint or now - self._progress_written >= 1.0):
            return
        self._progress_written = now
        changes: dict[str, Any] = {"step": step}
        if max_steps is not None:
            changes["max_steps"] = max_steps
        if epoch is not None:
            changes["epoch"] = round(epoch, 4)
        if checkpoint:
            changes["last_checkpoint"] = step
        self._update(**changes)

    def note(self, **facts: Any) -> None:
        """What the run found out (sizes, device, freeze plan, warnings, search, pushes): only
        RunStatus's own fields (a misspelt one raises TypeError)."""
        if not self.main:
            return
        if {"state", "error", "phase", "step"} & set(facts):
            raise TypeError("state, error, phase and step have their own methods")
        self._update(**facts)

    def finish(
        self,
        state: str,
        error: str | None = None,
        *,
        step: int | None = None,
        seconds: float | None = None,
    ) -> None:
        """The run ended: its final status and the end line of metrics.jsonl, together (the one
        place either is written), and the heartbeat stops."""
        if state not in FINISHED:
            raise ValueError(f"{state!r} is not a final state ({', '.join(FINISHED)})")
        self._stop_heartbeat()
        if not self.main:
            return
        changes: dict[str, Any] = {"state": state, "error": error, "phase": None}
        changes.update(phase_done=None, phase_total=None, phase_started=None)
        if step is not None:
            changes["step"] = step
        final = self._update(**changes)
        self.run.append_line(
            self.run.metrics_path, End(state, error, final.step, seconds).to_dict()
        )

    def fail(self, message: str, exc: BaseException | None = None, token: str | None = None):
        """A failure: the traceback to error.log (tokens redacted), then finish("failed")."""
        try:
            if exc is not None and self.main:
                with self.run.error_log_path.open("a", encoding="utf-8") as f:
                    f.write(redact("".join(traceback.format_exception(exc)), token))
            self.finish("failed", message)
        except OSError:
            self._stop_heartbeat()  # the run folder itself may be the problem (disk full)

    def close(self) -> None:
        """Stop the heartbeat (the run's process is done with the folder)."""
        self._stop_heartbeat()

    # ---- the other files ------------------------------------------------------------------
    def resolved(self, config: dict[str, Any]) -> None:
        """config.json: the resolved run (columns, labels, plan and learning rate decided)."""
        if self.main:
            self.run.write_json(self.run.config_path, config)

    def eval(self, result: dict[str, Any]) -> None:
        """eval.json: the final evaluation."""
        if self.main:
            self.run.write_json(self.run.eval_path, result)

    def log(self, record: Log | Trial) -> None:
        """One metrics line (a training or evaluation log, a learning-rate trial)."""
        if self.main:
            self.run.append_line(self.run.metrics_path, record.to_dict())

    def resume_from(self, step: int) -> None:
        """On resume: drop the lines past the checkpoint (they are trained again) and the end
        lines of earlier attempts, so the charts continue as one run."""
        if not self.main or not self.run.metrics_path.exists():
            return
        from finetune_core.runs.read import read_metrics

        kept = []
        for record in read_metrics(self.run.path):
            parsed = parse(record)
            if "event" in record or (isinstance(parsed, Log) and parsed.step > step):
                continue
            kept.append(record)
        self.run.rewrite_lines(self.run.metrics_path, kept)

    # ---- heartbeat ----------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop_heartbeat()
        stop = self._beat = threading.Event()
        pid = os.getpid()

        def beat() -> None:
            while not stop.wait(status_mod.HEARTBEAT_SECONDS):
                with self._lock:
                    current = self.read()
                    if current.state != "running" or current.pid != pid:
                        return
                    self._update()

        threading.Thread(target=beat, name="run-heartbeat", daemon=True).start()

    def _stop_heartbeat(self) -> None:
        if self._beat is not None:
            self._beat.set()
            self._beat = None
