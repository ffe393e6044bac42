"""Per-visitor caps and the fair queue: who may queue another job, which queued job starts
next, and when a running job has used up its share.

Hosted, every visitor is a stranger: one API session must not fill the queue (it queued 200
runs in 41 s), one config must not hold the only slot for hours (`epochs: 1000`), start more
processes than there are cores, or fill the disk with checkpoints. The numbers come from
`host.env.limits()` (environment variables with hosted defaults, the README's table); this
module applies them at three points the manager calls: a start (`check_start`), every
scheduling pass (`order`, `next_to_start`), and a watchdog that looks at the running jobs
every few seconds (`over_limit`, `Watchdog`).

Fairness is round-robin between visitors: the next job belongs to the visitor whose last
start is oldest (one who never started goes first), and a visitor's own jobs run in the order
they were queued. A visitor who queued many jobs gets one turn per round, so a newcomer is at
most one round from the front.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from finetune_core.errors import RunError
from finetune_core.host import env

WATCH_SECONDS = 2.0  # how often running jobs are measured (a folder walk and /proc reads)


def check_start(owner: str, jobs: Iterable, processes: int = 1) -> None:
    """Refuse, before anything is created, a job over this visitor's caps or the queue's."""
    lim = env.limits()
    if lim.processes and processes > lim.processes:
        raise RunError(
            f"processes is {processes}, more than the {lim.processes} this server allows "
            f"(FINETUNE_MAX_PROCESSES: one per core); use at most {lim.processes}."
        )
    jobs = list(jobs)
    waiting = [j for j in jobs if j.state == "queued"]
    mine = sum(1 for j in waiting if j.owner == owner)
    if lim.queued_per_visitor and mine >= lim.queued_per_visitor:
        raise RunError(
            f"You already have {mine} jobs waiting in the queue, the most one visitor may have "
            "here (FINETUNE_MAX_QUEUED_PER_VISITOR); wait for one to start, or stop one."
        )
    if lim.queue and len(waiting) >= lim.queue:
        raise RunError(
            f"The queue is full ({len(waiting)} jobs waiting, FINETUNE_MAX_QUEUE); try again "
            "when a job has finished."
        )


def order(queued: Iterable, jobs: Iterable) -> list:
    """The queued jobs in the order they will start: round-robin between owners."""
    last: dict[str, float] = {}
    for job in jobs:
        if job.started is not None:
            last[job.owner] = max(last.get(job.owner, 0.0), job.started)
    by_owner: dict[str, list] = {}
    for job in sorted(queued, key=lambda j: j.created):
        by_owner.setdefault(job.owner, []).append(job)
    owners = sorted(by_owner, key=lambda o: (last.get(o, float("-inf")), by_owner[o][0].created))
    rounds = max((len(v) for v in by_owner.values()), default=0)
    return [by_owner[o][r] for r in range(rounds) for o in owners if r < len(by_owner[o])]


def next_to_start(ordered: list, running: list, free: int) -> list:
    """Up to `free` jobs from `ordered`, skipping visitors at their cap of running jobs."""
    cap = env.limits().running_per_visitor
    busy = Counter(j.owner for j in running)
    picked = []
    for job in ordered:
        if len(picked) >= free:
            break
        if cap and busy[job.owner] >= cap:
            continue
        busy[job.owner] += 1
        picked.append(job)
    return picked


# ---- running jobs -------------------------------------------------------------------------
def over_limit(job, now: float | None = None) -> tuple[str, bool] | None:
    """(the sentence, whether to kill at once) when a running job passed a limit, else None.
    Time and disk stop it gracefully (the model so far is saved); memory cannot wait."""
    lim = env.limits()
    what = job.label
    if lim.run_memory_gb and job.process is not None:
        used = tree_memory_gb(job.process.pid)
        if used > lim.run_memory_gb:
            return (
                f"The {what} used {_size(used)} of memory, more than the "
                f"{_size(lim.run_memory_gb)} one job may use here (FINETUNE_MAX_RUN_MEMORY_GB); "
                "use a smaller model, "
                "batch size or max length.",
                True,
            )
    elapsed = (now or time.time()) - (job.started or time.time())
    if lim.run_minutes and elapsed > lim.run_minutes * 60:
        return (
            f"The {what} was stopped after {_duration(lim.run_minutes)}, the most one job may "
            "take here (FINETUNE_MAX_RUN_MINUTES); train fewer epochs or on less data.",
            job.action is not None,  # an action has no model to save: end it now
        )
    if lim.run_disk_gb and job.action is None:
        size = folder_gb(job.run_dir)
        if size > lim.run_disk_gb:
            return (
                f"The run folder grew to {_size(size)}, past the {_size(lim.run_disk_gb)} one "
                "run may hold here (FINETUNE_MAX_RUN_DISK_GB); keep fewer checkpoints "
                "(save_total_limit) or save less often (save_steps).",
                False,
            )
    return None


def _duration(minutes: float) -> str:
    return f"{minutes:g} minutes" if minutes >= 1 else f"{minutes * 60:.0f} seconds"


def _size(gb: float) -> str:
    return f"{gb:.1f} GB" if gb >= 1 else f"{gb * 1024:.0f} MB"


def folder_gb(path: str | Path) -> float:
    """Bytes under a folder, in GB (links not followed; files that vanish mid-walk skipped)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total / 2**30


def tree_memory_gb(leader: int) -> float:
    """Resident memory of a job's processes: the process group its child leads (children start
    in their own session), so accelerate's workers count too."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != leader:  # the process group id
                continue
            with open(f"/proc/{name}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**30


class Watchdog:
    """One daemon thread that measures the running jobs and halts those over a limit."""

    def __init__(self, running: Callable[[], list], halt: Callable[[object, str, bool], None]):
        self._running, self._halt = running, halt
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="job-limits", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            for job in self._running():
                if job.limit_reason is not None:
                    continue
                try:
                    found = over_limit(job)
                except Exception:  # a bad limit value or a vanished process: look again later
                    continue
                if found:
                    self._halt(job, *found)
