"""The Trainer callback that keeps the run directory current and honours stop requests.

Every log and evaluation becomes a line of metrics.jsonl; status.json tracks progress (at most
about once a second, so fast steps do not spend their time writing files). A stop request (a
threading.Event or the run dir's `stop` file) ends training after the current optimizer step;
in a multi-process run the ranks agree on it so none is left waiting in a collective.
A loss that turns NaN or infinite stops the run too.
"""

from __future__ import annotations

import math
import os
import threading
import time

from transformers import TrainerCallback

from finetune_core.runs import RunWriter
from finetune_core.runs.records import Log

SKIP_KEYS = {"total_flos", "train_runtime", "train_samples_per_second", "train_steps_per_second"}


def check_host_memory() -> None:
    """A configurable guard (FINETUNE_MAX_RSS_GB): fail cleanly before the host starts to swap
    or the kernel's OOM killer ends the whole dashboard."""
    from finetune_core.host import env

    limit = env.number("FINETUNE_MAX_RSS_GB", 0, unit="gigabytes")  # a bad value: one sentence
    if not limit:
        return
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (OSError, ValueError, IndexError):
        return
    if rss > limit:
        raise MemoryError(
            f"host memory use reached {rss:.1f} GB, over FINETUNE_MAX_RSS_GB={limit:g}"
        )


class RunDirCallback(TrainerCallback):
    def __init__(
        self,
        writer: RunWriter,
        *,
        stop_event: threading.Event | None = None,
        time_offset: float = 0.0,
        on_progress=None,
    ):
        self.writer = writer
        self.run = writer.run
        self.stop_event = stop_event
        self.start = time.monotonic() - time_offset
        self.on_progress = on_progress
        self.stopped = False
        self.diverged_at: int | None = None
        self.diverged_value: float | None = None

    def elapsed(self) -> float:
        return round(time.monotonic() - self.start, 3)

    # ---- Trainer events -------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self.writer.progress(state.global_step, max_steps=state.max_steps, force=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.on_progress and self.writer.main:
            self.on_progress(state.global_step, state.max_steps, state.epoch)
        check_host_memory()
        if self._stop_requested(args.device):
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True  # a checkpoint to resume from
        elif state.max_steps and state.global_step >= state.max_steps:
            # the Trainer checkpoints the last step; a completed run is saved to model/ and
            # is never resumed, so that write (weights + optimizer state) is wasted time
            control.should_save = False
        self.writer.progress(
            state.global_step, epoch=state.epoch or 0, force=control.should_training_stop
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        bad = [
            logs[k]
            for k in ("loss", "grad_norm")
            if isinstance(logs.get(k), int | float) and not math.isfinite(logs[k])
        ]
        if bad and self.diverged_at is None:
            self.diverged_at, self.diverged_value = state.global_step, bad[0]
            control.should_training_stop = True
            control.should_save = False  # keep the last good checkpoint, not a NaN one
        epoch = logs["epoch"] if isinstance(logs.get("epoch"), int | float) else state.epoch
        values = {k: v for k, v in logs.items() if k not in SKIP_KEYS}
        self.writer.log(Log(state.global_step, round(epoch or 0, 4), self.elapsed(), values))

    def on_save(self, args, state, control, **kwargs):
        self.writer.progress(state.global_step, checkpoint=True)

    # ---- stop -----------------------------------------------------------------------
    def _stop_requested(self, device) -> bool:
        flag = bool(self.stop_event and self.stop_event.is_set()) or self.run.stop_requested()
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            import torch

            tensor = torch.tensor([int(flag)], device=device)
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            flag = bool(tensor.item())
        return flag
