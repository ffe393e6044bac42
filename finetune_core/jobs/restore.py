"""Jobs rebuilt from the runs folder when the server starts: runs outlive the server.

A Space restarts on every sleep, rebuild or hardware change, and a local server is stopped and
started again; the run folders stay. On start every run folder becomes a job again, of the
owner its owner.json names (jobs/ownership.py), and a run left "queued" or "running" by a
process that is gone is marked "interrupted" (its final status and the end line, with the step
it reached), so every page shows it as it is and offers Resume.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError
from finetune_core.jobs import ownership


def mark_interrupted(path: str | Path) -> bool:
    """Write "interrupted" for a run whose holder is gone; True when it did."""
    writer = runs.RunWriter(path)
    written = writer.read()
    seen = runs.read_status(path)
    if not written.active or seen.state != "interrupted":
        return False
    writer.finish("interrupted", seen.error, step=written.step)
    return True


def config_of(view: runs.RunView) -> RunConfig:
    """The run's config as asked (a malformed one: an empty config; the folder still lists)."""
    try:
        return RunConfig.from_dict(view.request or view.config)
    except FinetuneError:
        return RunConfig()


def _created(view: runs.RunView, owner: ownership.Owner | None) -> float:
    for stamp in (view.status.started, owner.created if owner else None):
        try:
            return datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").timestamp()
        except ValueError:
            continue
    return view.path.stat().st_mtime


def rebuild(manager, root: str | Path | None = None) -> int:
    """Add every run under `root` (default: the runs folder) that `manager` does not know yet
    as a finished job of its owner; returns how many were added."""
    from finetune_core.jobs.manager import Job

    known = manager.run_dirs()
    added = 0
    for view in runs.list_runs(root):
        mark_interrupted(view.path)
        if view.path.resolve() in known:
            continue
        owner = ownership.read(view.path)
        job = Job(
            owner.job_id if owner and owner.job_id else secrets.token_hex(16),
            "",
            config_of(view),
            view.path,
            state="finished",
            created=_created(view, owner),
            owner_digest=owner.digest if owner else "",
        )
        added += manager.adopt(job)
    return added
