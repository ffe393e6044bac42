"""The learning-rate search: with `learning_rate: null` and the feature cache on, a few short
trainings of the trainable part on the cached features pick the rate by evaluation loss.

Each trial starts from the same initial weights, trains one pass over the training data
(at most MAX_STEPS steps) with AdamW at one rate of the grid, and is scored by the loss on
the evaluation set, computed exactly as training computes it (the Trainer's compute_loss, so
class weights and multi-label count). With the cache a step costs about a millisecond on a
CPU for a head, so the whole grid takes seconds. The random state is forked, so the real
training sees the same data order and head initialisation as without the search.

Trials go to metrics.jsonl as step-0 lines ({"lr_trial", "trial_learning_rate",
"trial_eval_loss", "trial_train_loss"}: no "loss" key, so charts of the training ignore them)
and the summary to status.json `learning_rate_search`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from finetune_core.runs import phases
from finetune_core.runs.records import Trial
from finetune_core.train.trainer import trainable_state

GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # around the head-only default of 1e-3
MAX_STEPS = 200


def skipped(reason: str) -> dict[str, Any]:
    return {"chosen": None, "skipped": reason, "trials": []}


def search(trainer, grid=GRID, max_steps: int = MAX_STEPS, on_trial=None) -> dict[str, Any]:
    """Try each rate; return {"chosen", "trials", "seconds", "steps_per_trial"}. The model is
    left with its initial weights."""
    started = time.monotonic()
    model = trainer.model
    initial = {k: v.detach().clone() for k, v in trainable_state(model).items()}
    params = trainer.trainable_parameters()  # FinetuneTrainer's list, taken once
    devices = [model.device.index or 0] if model.device.type == "cuda" else []
    trials = []
    steps = 0
    try:
        with torch.random.fork_rng(devices=devices):
            for lr in grid:
                model.load_state_dict(initial, strict=False)
                train_loss, steps = _train(trainer, params, lr, max_steps)
                eval_loss = _evaluate(trainer)
                trial = {"learning_rate": lr, "eval_loss": eval_loss, "train_loss": train_loss}
                trials.append(trial)
                if on_trial:
                    on_trial(len(trials) - 1, trial)
    finally:
        model.load_state_dict(initial, strict=False)
        model.zero_grad(set_to_none=True)
    finite = [t for t in trials if math.isfinite(t["eval_loss"])]
    chosen = min(finite, key=lambda t: t["eval_loss"])["learning_rate"] if finite else None
    return {
        "chosen": chosen,
        "trials": trials,
        "seconds": round(time.monotonic() - started, 3),
        "steps_per_trial": steps,
    }


def _train(trainer, params, lr: float, max_steps: int) -> tuple[float, int]:
    model = trainer.model
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=trainer.args.weight_decay)
    model.train()
    total, steps = 0.0, 0
    for inputs in trainer.get_train_dataloader():
        inputs = trainer._prepare_inputs(inputs)
        loss = trainer.compute_loss(model, inputs)
        if not torch.isfinite(loss):
            return float("inf"), steps + 1
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, trainer.args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total, steps = total + loss.item(), steps + 1
        if steps >= max_steps:
            break
    return total / max(1, steps), steps


@torch.no_grad()
def _evaluate(trainer) -> float:
    model = trainer.model
    model.eval()
    total, n = 0.0, 0
    try:
        for inputs in trainer.get_eval_dataloader():
            inputs = trainer._prepare_inputs(inputs)
            rows = len(inputs["labels"])
            loss = trainer.compute_loss(model, inputs)
            total, n = total + loss.item() * rows, n + rows
    finally:
        model.train()
    return total / n if n else float("inf")


def run_for(cfg, trainer, attachment, writer, hooks):
    """The run's search, when learning_rate was null (hooks.search_lr): on the cached features
    (the cache's attachment is on), or skipped with the reason. Returns the config with the
    chosen rate (also in the Trainer's arguments; run.py writes config.json once after)."""
    if not hooks.search_lr:
        return cfg
    if not getattr(attachment, "on", False):
        reason = "the feature cache is off, so each trial would cost a full training pass"
        writer.note(learning_rate_search=skipped(reason))
        return cfg

    def record(i: int, trial: dict) -> None:
        lr, losses = trial["learning_rate"], (trial["eval_loss"], trial["train_loss"])
        writer.log(Trial(i, lr, *losses))

    writer.phase(phases.SEARCHING_LR)
    result = search(trainer, on_trial=record)
    if result["chosen"] is not None:
        cfg = dataclasses.replace(cfg, learning_rate=result["chosen"])
        trainer.args.learning_rate = result["chosen"]
    writer.note(learning_rate_search=result)
    return cfg
