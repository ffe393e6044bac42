"""keep_best and early stopping: remember the best evaluation's weights, stop when it stops
improving, and put the best weights back before the final evaluation and save.

The best weights are what training changes (trainable parameters and buffers, as in the
checkpoints of trainer.py): a few kB for a head, so every improvement is written to
checkpoints/best/ (the run survives a kill and a resume keeps its best) and also kept in memory
on every process, so a multi-process run restores without waiting for the main one's file.
"""

from __future__ import annotations

import json
import math

import torch
from transformers import TrainerCallback

from finetune_core.runs import RunDir, on_main_process, read_json
from finetune_core.train.trainer import trainable_state


def metric_name(cfg, multi_label: bool = False) -> str:
    """What keep_best compares: metric_for_best, else macro F1 (micro F1 for multi-label)."""
    metric = cfg.metric_for_best or ("f1_micro" if multi_label else "f1_macro")
    if metric == "f1_micro" and not multi_label:
        return "accuracy"  # one label per example: micro F1 is the accuracy
    return metric


class BestCallback(TrainerCallback):
    def __init__(
        self,
        run: RunDir,
        metric: str,
        *,
        keep: bool = True,
        patience: int | None = None,
    ):
        self.run, self.metric, self.keep, self.patience = run, metric, keep, patience
        self.writes = on_main_process()  # every process keeps the best in memory; one writes
        self.higher = metric != "loss"
        saved = read_json(run.best_record) or {}  # a resumed run continues its record
        self.best_step: int | None = saved.get("step")
        self.best_value: float | None = saved.get("value")
        self.best_loss: float | None = saved.get("eval_loss")
        self.bad_evals: int = int(saved.get("bad_evals", 0))
        self.stopped_early_at: int | None = None
        self._state: dict[str, torch.Tensor] | None = None
        self.model = None

    def _better(self, value: float, loss: float | None = None) -> bool:
        """A better score wins; an equal score wins with a lower eval loss. Scores tie often
        on small evaluation sets (accuracy moves in steps of 1/n), and keeping the earliest
        of tied evaluations kept near-uniform models that had not learned yet."""
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if value == self.best_value and self.metric != "loss":
            return loss is not None and (self.best_loss is None or loss < self.best_loss)
        return value > self.best_value if self.higher else value < self.best_value

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        value = (metrics or {}).get(f"eval_{self.metric}")
        if not isinstance(value, int | float):
            return
        if control.should_training_stop and state.global_step < (state.max_steps or 0):
            # the evaluation a stop forces mid-epoch: the resumed run evaluates at the regular
            # point, so this one must not decide the best model or the patience
            return
        model = model or self.model
        loss = (metrics or {}).get("eval_loss")
        loss = float(loss) if isinstance(loss, int | float) and math.isfinite(loss) else None
        if self._better(float(value), loss):
            # patience counts scores only: a tie won on loss keeps its weights, not the clock
            tie = value == self.best_value
            self.bad_evals = self.bad_evals + 1 if tie else 0
            self.best_step, self.best_value, self.best_loss = state.global_step, float(value), loss
            if self.keep and model is not None:
                self._state = {
                    k: v.detach().cpu().clone() for k, v in trainable_state(model).items()
                }
                self._save()
        else:
            self.bad_evals += 1
        if self.patience and self.bad_evals >= self.patience:
            self.stopped_early_at = state.global_step
            control.should_training_stop = True
        self._record()

    def on_train_end(self, args, state, control, model=None, **kwargs):
        """keep_best: the best evaluation's weights back before the final evaluation and save
        (a stopped run's checkpoint for --resume was written before, with the last weights)."""
        if model is not None:
            self.restore(model, state.global_step)

    def _save(self) -> None:
        if not self.writes or self._state is None:
            return
        from safetensors.torch import save_file

        self.run.best_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run.best_weights.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in self._state.items()}, str(tmp))
        tmp.replace(self.run.best_weights)

    def _record(self) -> None:
        if self.writes:
            self.run.best_dir.mkdir(parents=True, exist_ok=True)
            record = {
                "step": self.best_step,
                "value": self.best_value,
                "eval_loss": self.best_loss,
                "metric": self.metric,
                "bad_evals": self.bad_evals,
            }
            self.run.best_record.write_text(json.dumps(record) + "\n")

    def restore(self, model, global_step: int) -> int | None:
        """Put the best evaluation's weights back (keep_best); returns the best step."""
        if not self.keep or self.best_step is None or self.best_step == global_step:
            return self.best_step
        state = self._state
        if state is None and self.run.best_weights.exists():
            from safetensors.torch import load_file

            state = load_file(str(self.run.best_weights), device="cpu")
        if state is None:
            return None  # nothing to restore: the final weights stand
        model.load_state_dict(state, strict=False)
        return self.best_step
