"""Deleting a run removes what it alone used: its folder, its exports (the model zip, action
work folders), its trackio records, and its upload when no other run reads that upload.

The caller checks ownership (the page and the script API ask the manager first); a queued or
running run is never deleted.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from finetune_core import runs
from finetune_core.errors import RunError
from finetune_core.host import retention


def delete_run(run_dir: str | Path) -> None:
    """Remove a finished run and what it alone used; raises RunError for an active one."""
    path = Path(run_dir)
    view = runs.read_run(path, metrics=False)
    if view.state in runs.ACTIVE:
        raise RunError(f"Run {path.name} is {view.state}; stop it before deleting it.")
    upload = retention.upload_of(str(view.config.get("dataset") or ""))
    exports = retention.exports_of(path)
    if "trackio" in (view.config.get("report_to") or []):
        _forget_trackio(path)
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(exports, ignore_errors=True)
    if upload is not None and not retention.in_use(upload):
        retention.remove_upload(upload)


def delete_job(manager, job, owner: str) -> None:
    """Delete a job's run (delete_run) and drop the job from `manager`, as the page and the
    script API both do; raises RunError while it runs. A run that has just ended waits a
    moment for its job to finish, so the job never outlives its folder."""
    ended = not runs.read_status(job.run_dir).active
    if ended and job.state != "finished" and job.thread is not None:
        job.thread.join(30)
    if job.state != "finished":
        raise RunError(f"Run {Path(job.run_dir).name} is {job.state}; stop it first.")
    delete_run(job.run_dir)
    manager.forget(job.id, owner)


def _forget_trackio(path: Path) -> None:
    """trackio's rows for the run, when they live in trackio's own folder (a local run; a
    hosted one keeps them inside the run folder, which goes anyway)."""
    if runs.RunDir(path).trackio_dir.is_dir():
        return
    from finetune_core.host import extras

    if not extras.installed("trackio"):
        return
    from trackio.sqlite_storage import SQLiteStorage

    from finetune_core.train.trackers import PROJECT

    with contextlib.suppress(Exception):  # a damaged or locked database must not keep the run
        SQLiteStorage.delete_run(PROJECT, path.name)
