"""Background training jobs: a process-wide registry, a queue, and ownership per session.

A job runs `train.run` in a daemon thread (one device), or `finetune train --start` as a
subprocess (several processes through `accelerate launch`, see jobs/launcher.py). Starting
checks everything first and creates nothing on a refusal; then it returns at once: the run dir
is created with status "queued" (and the request) so every page shows it at once.
At most `max_concurrent` jobs train at a time (default: one per GPU, one on CPU); the rest wait,
in round-robin order between visitors, under per-visitor caps and limits (jobs/limits.py).
Heavy actions on a run (ONNX export, predictions: jobs/actions.py) are jobs of the same queue.
Hosted, every job runs in its own process with the visitor's environment (visitor_env.py).
Every lookup checks the owner, so one browser session can never see, stop or download
another's job, even with a guessed id (ids are random 128-bit values anyway). Ownership is
kept in the run folder as a hash (jobs/ownership.py), so jobs.restore rebuilds the registry
from the runs folder when the server starts; jobs/continuing.py resumes and trains more.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RunError
from finetune_core.jobs import actions, limits, ownership, visitor_env
from finetune_core.jobs.launcher import check_accelerate_config


@dataclass
class Job:
    id: str
    owner: str
    config: RunConfig | None  # None for an action
    run_dir: Path
    processes: int = 1
    accelerate_config: str | None = None
    state: str = "queued"  # queued | running | finished
    created: float = field(default_factory=time.time)
    error: str | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    process: subprocess.Popen | None = None
    token: str | None = field(default=None, repr=False)
    resume: bool = False  # continue the run in run_dir from its last checkpoint
    owner_digest: str = ""  # the owner as the run folder keeps it (ownership.digest)
    action: actions.Action | None = None  # a heavy action on a run instead of a training
    started: float | None = None  # when it left the queue (the fair order reads it)
    limit_reason: str | None = None  # the sentence when a limit stopped it (jobs/limits.py)
    private_dir: Path | None = None  # hosted: the child's own HOME (visitor_env.py)

    def __post_init__(self) -> None:
        self.owner_digest = self.owner_digest or ownership.digest(self.owner)

    @property
    def label(self) -> str:
        return self.action.label if self.action else "run"


def _check_processes(processes: object) -> int:
    try:
        count = int(processes)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 64:
        raise RunError("processes must be a whole number between 1 and 64.")
    return count


def default_max_concurrent() -> int:
    env = os.environ.get("FINETUNE_MAX_JOBS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except ImportError:
        return 1


class JobManager:
    """Thread-safe registry of jobs; one per process (MANAGER below)."""

    def __init__(self, max_concurrent: int | None = None, queue_timeout: float | None = None):
        self._max_concurrent = max_concurrent  # None: one per GPU, counted at the first start
        # a queued job whose session stopped polling for this long is dropped (closed tab)
        self.queue_timeout = queue_timeout or float(os.environ.get("FINETUNE_QUEUE_TIMEOUT", 600))
        self._jobs: dict[str, Job] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.RLock()
        self._watchdog = limits.Watchdog(self._running, self.halt)

    @property
    def max_concurrent(self) -> int:
        """Counting GPUs imports torch (seconds): done when a job first starts, not when the
        page (which creates MANAGER at import) loads."""
        if self._max_concurrent is None:
            self._max_concurrent = default_max_concurrent()
        return self._max_concurrent

    # ---- starting -----------------------------------------------------------------
    def start(
        self,
        cfg: RunConfig,
        owner: str,
        *,
        token: str | None = None,
        processes: int = 1,
        accelerate_config: str | None = None,
    ) -> Job:
        """Queue a job and return at once; raises FinetuneError for a config it can't run.

        Every check comes before anything is written: a refused start leaves no folder."""
        if not owner:
            raise RunError("No session id; reload the page.")
        processes = _check_processes(processes)
        if accelerate_config:
            check_accelerate_config(accelerate_config)
        with self._lock:  # the caps are checked and the job registered as one step
            limits.check_start(owner, self._jobs.values(), processes)
            run_dir = runs.RunDir(cfg.output_dir or runs.default_run_dir(cfg.model))
            cfg = dataclasses.replace(cfg, output_dir=str(run_dir.path))
            run_dir.create()
            runs.RunWriter(run_dir).queue(cfg.to_dict())  # the request; config.json: resolved
            job = Job(
                secrets.token_hex(16),
                owner,
                cfg,
                run_dir.path,
                processes,
                accelerate_config=accelerate_config,
                token=token,
            )
            ownership.record(run_dir.path, job.owner_digest, job.id)
            self._jobs[job.id] = job
            self._seen[owner] = time.time()
            self._schedule()  # in the same step: the next start sees this one running
        return job

    def submit(self, owner: str, action: actions.Action, *, token: str | None = None) -> Job:
        """Queue a heavy action on a run (jobs/actions.py), under the same caps as a run."""
        if not owner:
            raise RunError("No session id; reload the page.")
        with self._lock:
            limits.check_start(owner, self._jobs.values())
            job = Job(secrets.token_hex(16), owner, None, Path(action.run_dir), token=token)
            job.action = action
            self._jobs[job.id] = job
            self._seen[owner] = time.time()
            self._schedule()  # in the same step: the next start sees this one running
        return job

    def enqueue(self, job: Job, *, replacing: Job | None = None) -> None:
        """Queue a job (a resume that takes `replacing`'s place, or Train more), under the
        same caps as a start."""
        with self._lock:
            others = [j for j in self._jobs.values() if j is not replacing]
            limits.check_start(job.owner, others, job.processes)
            if replacing is not None:
                self._jobs.pop(replacing.id, None)
            self._jobs[job.id] = job
            self._seen[job.owner] = time.time()
            self._schedule()

    def adopt(self, job: Job) -> bool:
        """Add a job rebuilt from its run folder (jobs/restore.py); False when known."""
        with self._lock:
            if job.id in self._jobs or Path(job.run_dir).resolve() in self.run_dirs():
                return False
            self._jobs[job.id] = job
            return True

    def run_dirs(self) -> set[Path]:
        with self._lock:
            return {Path(j.run_dir).resolve() for j in self._jobs.values()}

    def _schedule(self) -> None:
        with self._lock:
            self._drop_abandoned()
            running = self._running()
            for job in limits.next_to_start(
                self._queued(), running, self.max_concurrent - len(running)
            ):
                job.state = "running"
                self._launch(job)

    def _running(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.state == "running"]

    def _launch(self, job: Job) -> None:
        job.started = time.time()
        self._watchdog.start()
        if job.action is not None:
            target = self._run_action
        elif job.processes > 1 or visitor_env.isolated():
            from finetune_core.jobs import launcher

            cmd = None if job.processes > 1 else launcher.single_command(job.run_dir, job.resume)
            job.process = launcher.start_process(job, cmd)
            target = self._watch_process
        else:
            target = self._run_thread
        job.thread = threading.Thread(
            target=target, args=(job,), name=f"job-{job.id[:8]}", daemon=True
        )
        job.thread.start()

    def _run_thread(self, job: Job) -> None:
        from finetune_core.train import device
        from finetune_core.train import run as train

        try:
            device.configure_threads(leave_free=1)  # keep a core for the web server
            train.run(
                None if job.resume else job.config,
                stop_event=job.stop_event,
                token=job.token,
                resume_dir=job.run_dir if job.resume else None,
                run_dir=None if job.resume else runs.RunDir(job.run_dir),
            )
        except FinetuneError as exc:
            job.error = str(exc)
        except BaseException as exc:  # never let a job kill the server thread pool
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._finish(job)

    def _run_action(self, job: Job) -> None:
        try:
            actions.run(job)
        except BaseException as exc:  # the job ends either way; the page reads why
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._finish(job)

    def _watch_process(self, job: Job) -> None:
        from finetune_core.jobs.launcher import wait_process

        try:
            job.error = wait_process(job)
        finally:
            self._finish(job)

    def _finish(self, job: Job) -> None:
        # a limit's sentence reached the run through its stop file (the run writes it as its
        # error when it stops) or, for a child killed at once, through launcher.wait_process
        with self._lock:
            job.state = "finished"
            job.token = None
        visitor_env.remove(job.private_dir)
        self._schedule()

    def halt(self, job: Job, reason: str, kill: bool = False) -> None:
        """Stop a running job that passed a limit (the watchdog calls it): gracefully (the
        model so far is saved) or, for memory, at once."""
        with self._lock:
            if job.state != "running":  # it ended while being measured: nothing to stop
                return
            job.limit_reason = reason
        if job.action is None:
            runs.request_stop(job.run_dir, reason)
        job.stop_event.set()
        if kill and job.process is not None:
            from finetune_core.jobs.launcher import kill_tree

            kill_tree(job.process)

    # ---- queries (all owner-checked) ------------------------------------------------
    def get(self, job_id: str, owner: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id or "")
            return job if job and ownership.matches(owner, job.owner_digest) else None

    def jobs_of(self, owner: str) -> list[Job]:
        with self._lock:
            self._seen[owner] = time.time()
            return [
                j
                for j in self._jobs.values()
                if j.action is None and ownership.matches(owner, j.owner_digest)
            ]

    def owns_run(self, owner: str, run_dir: str | Path) -> bool:
        target = Path(run_dir).resolve()
        return any(j.run_dir.resolve() == target for j in self.jobs_of(owner))

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start; None when not waiting."""
        with self._lock:
            queued = self._queued()
            return queued.index(job) + 1 if job in queued else None

    def touch(self, owner: str) -> None:
        """The session is still there (called by each chart poll)."""
        with self._lock:
            self._seen[owner] = time.time()

    def _queued(self) -> list[Job]:
        """The queued jobs in the order they will start (round-robin between visitors)."""
        queued = [j for j in self._jobs.values() if j.state == "queued"]
        return limits.order(queued, self._jobs.values())

    def _drop_abandoned(self) -> None:
        now = time.time()
        for job in self._queued():
            if now - self._seen.get(job.owner, job.created) > self.queue_timeout:
                self._cancel_queued(job, "dropped from the queue: its page was closed")

    def _cancel_queued(self, job: Job, reason: str | None) -> None:
        job.state = "finished"
        if job.action is not None:  # the run it would work on is not touched
            job.error = reason or f"the {job.label} was cancelled"
            return
        runs.RunWriter(job.run_dir).finish("failed" if reason else "stopped", reason)

    # ---- stopping -----------------------------------------------------------------
    def stop(self, job_id: str, owner: str) -> bool:
        """Stop a job of this owner: a queued one is cancelled, a running one stops after
        its current step (model and metrics saved). False when there is no such job."""
        job = self.get(job_id, owner)
        if job is None:
            return False
        with self._lock:
            if job.state == "queued":
                self._cancel_queued(job, None)
                return True
        if job.state == "finished" and not (
            Path(job.run_dir).is_dir() and runs.read_status(job.run_dir).active
        ):
            return False  # over already (or deleted): nothing to stop
        job.stop_event.set()
        if job.action is None:  # every process of the run (or an earlier server's)
            runs.request_stop(job.run_dir)
        return True

    def forget(self, job_id: str, owner: str) -> Job | None:
        """Drop a finished job of this owner from the registry (its run was deleted)."""
        job = self.get(job_id, owner)
        with self._lock:
            if job is None or job.state != "finished":
                return None
            return self._jobs.pop(job.id, None)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop everything (server exit): running jobs save and mark themselves stopped."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self.stop(job.id, job.owner)
        for job in jobs:
            if job.thread:
                job.thread.join(timeout)


MANAGER = JobManager()
