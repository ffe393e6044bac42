"""Experiment trackers (`report_to`): every value the Trainer logs also goes to TensorBoard,
trackio, Weights & Biases or MLflow, through transformers' own integration callbacks.

- tensorboard: event files in RUN_DIR/tensorboard (`tensorboard --logdir RUN_DIR/tensorboard`).
- trackio: local-first, in trackio's own folder (TRACKIO_DIR, default ~/.cache/huggingface/
  trackio), project "finetune-dashboard", one trackio run per run folder
  (`trackio show --project finetune-dashboard`). Nothing leaves the machine unless the
  environment says so (TRACKIO_SPACE_ID / TRACKIO_SERVER_URL); no static Space is created.
- wandb, mlflow: configured by their own environment variables (WANDB_API_KEY, WANDB_MODE,
  MLFLOW_TRACKING_URI, ...). Tokens come only from the environment, never from a config.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from typing import Any

from finetune_core import extras
from finetune_core.runs import RunDir

PROJECT = "finetune-dashboard"


def check(report_to: list[str]) -> None:
    """One sentence when a chosen tracker's package is missing (before any work starts)."""
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

    made = []
    for name, cls in zip(report_to, get_reporting_integration_callbacks(report_to), strict=True):
        callback = cls()
        if name == "tensorboard":
            callback.logging_dir = str(run_dir.tensorboard_dir)
        made.append(callback)
    return made


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
