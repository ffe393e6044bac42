"""Going on with a run: Resume (a stopped, failed or interrupted run continues from its last
checkpoint in its own folder, its metrics and charts continuing) and Train more (a completed
run's weights trained further, in a new run folder). The page and the script API call these;
`finetune train --resume` is the same resume from the command line."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RunError
from finetune_core.jobs import ownership


def saved_config(path: Path) -> RunConfig:
    """The run's config: the resolved one, or the request of a run that never resolved."""
    rd = runs.RunDir(path)
    data = rd.read_config() or rd.read_request()
    if data is None:
        raise RunError(f"Run {path.name} has no saved config; it cannot be continued.")
    try:
        return RunConfig.from_dict({**data, "output_dir": str(path)})
    except FinetuneError as exc:
        raise RunError(f"Run {path.name}'s saved config is not valid ({exc}).") from None


def resume(manager, job, owner: str, *, token: str | None = None):
    """Queue a job that continues `job`'s run in its folder; returns the new job (it takes the
    old one's place in the owner's list). Raises RunError with one sentence."""
    from finetune_core.jobs.manager import Job

    path = Path(job.run_dir)
    if not path.is_dir():
        raise RunError(f"Run {path.name} was deleted; it cannot be resumed.")
    status = runs.read_status(path)
    if not status.resumable:
        what = "is still going" if status.active else f"is {status.state}"
        hint = "; use Train more to train it further" if status.state == "completed" else ""
        raise RunError(f"Run {path.name} {what}, so there is nothing to resume{hint}.")
    cfg = saved_config(path)
    new = Job(
        secrets.token_hex(16),
        owner,
        cfg,
        path,
        job.processes,
        accelerate_config=job.accelerate_config,
        token=token,
        resume=True,
        owner_digest=job.owner_digest,  # stays whose it was
    )
    ownership.record(path, new.owner_digest, new.id)
    manager.enqueue(new, replacing=job)
    return new


def train_more(manager, job, owner: str, *, epochs: float | None = None, token=None):
    """Queue a new run that starts from a completed run's weights (its model/ folder), with
    its resolved settings (columns, labels, plan and learning rate); `epochs` more epochs
    (default: as many as it had)."""
    path = Path(job.run_dir)
    view = runs.read_run(path, metrics=False) if path.is_dir() else None
    if view is None or view.state != "completed" or not runs.RunDir(path).has_model():
        state = view.state if view else "deleted"
        raise RunError(
            f"Run {path.name} is {state}; Train more starts from a completed run's model "
            "(resume a stopped or interrupted run instead)."
        )
    base = saved_config(path)
    cfg = dataclasses.replace(
        base,
        model=str(runs.RunDir(path).model_dir.resolve()),
        output_dir=None,
        epochs=float(epochs) if epochs else base.epochs,
    )
    cfg = RunConfig.from_dict(cfg.to_dict())  # validated, as every start is
    return manager.start(cfg, owner, token=token, processes=job.processes)
