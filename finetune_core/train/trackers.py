"""Experiment trackers (`report_to`): every value the Trainer logs also goes to TensorBoard,
trackio, Weights & Biases or MLflow, through transformers' own integration callbacks.

- tensorboard: event files in RUN_DIR/tensorboard (`tensorboard --logdir RUN_DIR/tensorboard`).
- trackio: local-first, in trackio's own folder (TRACKIO_DIR, default ~/.cache/huggingface/
  trackio), project "finetune-dashboard", one trackio run per run folder
  (`trackio show --project finetune-dashboard`). Nothing leaves the machine unless the
  environment says so (TRACKIO_SPACE_ID / TRACKIO_SERVER_URL); no static Space is created.
- wandb, mlflow: configured by their own environment variables (WANDB_API_KEY, WANDB_MODE,
  MLFLOW_TRACKING_URI, ...). Tokens come only from the environment, never from a config.

A resumed run logs each step once, as metrics.jsonl does: TensorBoard purges its records past
the checkpoint (they are trained again), trackio skips the steps it already holds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import sys
from typing import Any

from finetune_core.errors import ConfigError
from finetune_core.host import extras, paths
from finetune_core.runs import RunDir

PROJECT = "finetune-dashboard"
HOSTED_OK = ("tensorboard", "trackio")  # local records only: no credentials involved
REMOTE_ENV = ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL")  # would send trackio's records away


def check(report_to: list[str]) -> None:
    """Before any work starts: one sentence when a chosen tracker's package is missing, or when
    a hosted dashboard would log a visitor's run with the host's credentials."""
    if report_to and paths.hosted():
        remote = [n for n in report_to if n not in HOSTED_OK]
        if "trackio" in report_to and any(os.environ.get(v) for v in REMOTE_ENV):
            remote.append("trackio")
        if remote:
            raise ConfigError(
                f"report_to {remote[0]} is not available on a hosted dashboard: it would log "
                "with the host's credentials; use tensorboard or trackio (local records)."
            )
    extras.require_trackers(report_to)


def training_args(report_to: list[str], run_dir: RunDir) -> dict[str, Any]:
    """TrainingArguments the integrations read: the run's name, trackio's project, and no
    static trackio Space (the Trainer would otherwise create one on the Hub on push)."""
    if not report_to:
        return {}
    return {"run_name": run_dir.path.name, "project": PROJECT, "trackio_static_space_id": False}


def callbacks(report_to: list[str], run_dir: RunDir) -> list[Any]:
    """The Trainer's own integration callbacks for `report_to` (as `report_to=` would build
    them), with TensorBoard pointed at the run folder instead of the checkpoints folder."""
    if not report_to:
        return []
    check(report_to)
    from transformers.integrations import get_reporting_integration_callbacks

    # a folder with a checkpoint is being resumed from it (a new or queued run's holds none):
    # the steps logged after that checkpoint are trained, and logged, again
    resumed_at = run_dir.checkpoint_step()
    made = []
    for name, cls in zip(report_to, get_reporting_integration_callbacks(report_to), strict=True):
        callback = cls()
        if name == "tensorboard":
            callback.logging_dir = str(run_dir.tensorboard_dir)
            if resumed_at:  # TensorBoard hides the earlier records from this step on
                writer = functools.partial(callback._SummaryWriter, purge_step=resumed_at + 1)
                callback._SummaryWriter = writer
        elif name == "trackio" and resumed_at:
            callback = LogsAfter(callback, _trackio_last_step(run_dir.path.name))
        made.append(callback)
    return made


class LogsAfter:
    """A tracker's callback that leaves out the logs of steps it already holds (trackio
    cannot take records back, so a resumed run's records continue after its last one)."""

    def __init__(self, inner: Any, last_step: int):
        self.inner, self.last_step = inner, last_step

    def __getattr__(self, event: str) -> Any:  # every other Trainer event goes through
        return getattr(self.inner, event)

    def on_log(self, args, state, control, **kwargs):
        if state.global_step > self.last_step:
            return self.inner.on_log(args, state, control, **kwargs)
        return None


def _trackio_last_step(run_name: str) -> int:
    """The last Trainer step trackio holds for a run (0 for none)."""
    from trackio.sqlite_storage import SQLiteStorage

    logs = SQLiteStorage.get_logs(PROJECT, run_name)
    return max((int(r.get("train/global_step") or 0) for r in logs), default=0)


def close(report_to: list[str]) -> None:
    """Finish the trackio run this thread opened, also after a failure (the Trainer finishes
    it only at the end of training, and the final evaluation opens it again): its system
    metrics thread would otherwise go on logging into a run that is over."""
    if "trackio" not in report_to or "trackio" not in sys.modules:
        return
    import trackio

    with contextlib.suppress(RuntimeError):  # no current run: nothing to finish
        trackio.finish()


def tensorboard_command(run_dir) -> str | None:
    """The command that opens a run's TensorBoard logs, when it has any."""
    folder = RunDir(run_dir).tensorboard_dir
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    return f"tensorboard --logdir {shlex.quote(str(folder))}"
