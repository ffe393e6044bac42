"""The run folder: the single source of truth for one run, as a typed protocol.

    request.json   what the user or API asked (written once, at the start)
    config.json    the resolved run: columns, labels, plan and learning rate (never a token)
    status.json    RunStatus (status.py): state, step, phase, what the run found out
    metrics.jsonl  one record a line (records.py): training and evaluation logs,
                   learning-rate trials, and an end line when the run ends
    eval.json      final metrics
    owner.json     who may see the run, as a hash (jobs/ownership.py)
    notes.json     the Runs tab's name and note
    model/         the fine-tuned model (save_pretrained)
    onnx/          `finetune export --format onnx`: model.onnx (+ model_int8.onnx), export.json
    tensorboard/   TensorBoard event files when report_to has tensorboard
    trackio/       trackio's records of a hosted visitor's run (TRACKIO_DIR of its process)
    checkpoints/   Trainer checkpoints for --resume (checkpoint-STEP/), best/ for keep_best
    stop           present when a stop was requested (read by every process of the run); it
                   may hold the reason, the error of the stopped run (a host's limit)
    error.log      the traceback of a failure (tokens redacted)
    launcher.log   output of an accelerate launcher (multi-process jobs)

folder.py alone spells these names (RunDir); writer.py is the one writer (a no-op off the
main process); read.py is how every reader (page, script API, CLI) reads, so a page refresh, a
second tab, a subprocess run and a run from last week are shown the same way.
"""

from __future__ import annotations

from finetune_core.jsonfiles import parse_lines, read_json
from finetune_core.runs import phases, records
from finetune_core.runs.folder import (
    BEST,
    CONFIG,
    METRICS,
    OWNER,
    REQUEST,
    STATUS,
    RunDir,
    checkpoint_name,
    checkpoint_step,
    default_run_dir,
    last_checkpoint,
    now_iso,
    request_stop,
    runs_root,
)
from finetune_core.runs.read import (
    MetricsTail,
    RunView,
    is_run,
    list_runs,
    read_metrics,
    read_run,
    read_status,
    tail,
)
from finetune_core.runs.status import (
    ACTIVE,
    FINISHED,
    INTERRUPTED,
    RESUMABLE,
    STATES,
    RunStatus,
)
from finetune_core.runs.writer import RunWriter, on_main_process

__all__ = [
    "ACTIVE",
    "BEST",
    "CONFIG",
    "FINISHED",
    "INTERRUPTED",
    "METRICS",
    "OWNER",
    "REQUEST",
    "RESUMABLE",
    "STATES",
    "STATUS",
    "MetricsTail",
    "RunDir",
    "RunStatus",
    "RunView",
    "RunWriter",
    "checkpoint_name",
    "checkpoint_step",
    "default_run_dir",
    "is_run",
    "last_checkpoint",
    "list_runs",
    "now_iso",
    "on_main_process",
    "parse_lines",
    "phases",
    "read_json",
    "read_metrics",
    "read_run",
    "read_status",
    "records",
    "request_stop",
    "runs_root",
    "tail",
]
