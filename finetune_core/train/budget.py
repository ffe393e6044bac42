"""`freeze: auto` by measured cost: time a few steps, estimate every candidate plan, and take
the deepest one that fits the run's time budget.

Two timings on a sample batch of the run's own training rows, before anything trains: a
no-grad forward pass of the whole model, and a training step (forward and backward) with
every parameter trainable. Both are per unit of work (a token for text, a row for images), so
they scale to the whole data by its length. For a plan that trains the top k of L blocks over
the frozen-feature cache:

    cache pass   forward x (1 - k/L) x every row (train, selection, report)
    training     epochs x step x k/L x train rows
    evaluations  epochs x forward x k/L x selection rows  +  forward x k/L x report rows

Without the cache (several processes, or feature_cache off) the frozen part runs every epoch.
The blocks carry nearly all of the cost (embeddings and the head are a few percent), which
is what the k/L shares assume.

The budget (`time_budget`, seconds): empty means a few passes over the data on this device,
AUTO_PASSES times the estimated forward pass over the training rows, and never less than
MIN_BUDGET (a small dataset trains fully on any device). On TREC (5.5k questions) with
all-MiniLM-L6-v2 on 2 CPU cores that picks the top block of 6: macro F1 0.93 in 5.3 forward
passes for the whole process, where the head + pooler plan gave 0.65 (bench/real.py). When
only the head fits, the top block trains if it costs at most STRETCH x the budget.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import torch

from finetune_core.config import AUTO_PASSES
from finetune_core.freeze_plan import Candidate, FreezePlan, candidates
from finetune_core.train import sampling

MIN_BUDGET = {"cpu": 30.0, "mps": 120.0, "cuda": 600.0}
SAMPLE_BATCHES = 2
# The head alone over frozen features is a poor readout: on TREC macro F1 0.65 against 0.88
# for TF-IDF + logistic regression and 0.93 with the top block; on GoEmotions 0.18 against
# 0.30. So when only the head fits, the top block still trains if it costs at most this much
# of the budget (it is about 3-4.5 forward passes, the budget 4).
STRETCH = 1.25


@dataclass(frozen=True)
class Costs:
    """Seconds per unit of work (token or row) for the whole model."""

    forward: float
    step: float
    unit: str  # "token" | "row"


@dataclass(frozen=True)
class Sizes:
    """Units of work in each part of the data, and the run's shape."""

    train: float
    select: float
    report: float
    epochs: float
    cached: bool  # the frozen-feature cache can stand in for the frozen prefix
    processes: int = 1

    @property
    def everything(self) -> float:
        return self.train + self.select + self.report


def units(dataset) -> float:
    """Tokens in a tokenized text split (its input_ids), else its rows (images)."""
    lengths = sampling.lengths_of(dataset)
    return float(sum(lengths)) if lengths is not None else float(len(dataset))


def estimate(plan: Candidate, costs: Costs, sizes: Sizes) -> float:
    """Seconds of training (cache pass, epochs, evaluations) for a plan; see the module doc."""
    k, f, s, e = plan.share, costs.forward, costs.step, sizes.epochs
    evals = e * sizes.select + sizes.report
    if k >= 1:  # everything trains: nothing to cache
        total = e * s * sizes.train + f * evals
    elif sizes.cached:
        total = f * (1 - k) * sizes.everything + e * s * k * sizes.train + f * k * evals
    else:
        total = e * (f * (1 - k) + s * k) * sizes.train + f * evals
    return total / max(1, sizes.processes)


def budget_for(requested: float | None, forward_pass: float, device: str) -> float:
    """The run's budget in seconds: the one asked for, else AUTO_PASSES forward passes over
    the training rows, at least MIN_BUDGET for the device."""
    if requested is not None:
        return float(requested)
    return max(MIN_BUDGET.get(device, MIN_BUDGET["cpu"]), AUTO_PASSES * forward_pass)


def choose(
    plans: list[Candidate], estimates: list[float], budget: float, stretch: bool = True
) -> int:
    """Index of the deepest plan that fits the budget (the shallowest when none does), except
    that with `stretch` (a budget nobody asked for) the first block trains when it costs at
    most STRETCH x the budget: the head alone over a frozen backbone lost to the quick
    baseline on both real sets (bench/real.py)."""
    fitting = [i for i, t in enumerate(estimates) if t <= budget]
    index = fitting[-1] if fitting else 0
    if stretch and index == 0 and len(plans) > 2 and estimates[1] <= STRETCH * budget:
        return 1
    return index


def _sync(device) -> None:
    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device) -> float:
    _sync(device)
    started = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - started


def measure(model, dataset, collator, batch_size: int, device, seed: int) -> Costs:
    """Per-unit forward and training-step seconds on sample batches of `dataset` (the best of
    SAMPLE_BATCHES, after one warm-up). Draws no randomness from the run's stream and leaves
    the weights and gradients as they were."""
    n = len(dataset)
    picks = random.Random(seed).sample(range(n), min(n, batch_size * (SAMPLE_BATCHES + 1)))
    batches = [picks[i : i + batch_size] for i in range(0, len(picks), batch_size)]
    batches = batches if len(batches) > 1 else batches * 2  # the first one warms up
    text = "input_ids" in getattr(dataset, "column_names", [])
    params = [p for p in model.parameters()]
    trainable = [p.requires_grad for p in params]
    was_training = model.training
    forward, step = [], []
    devices = [device.index or 0] if getattr(device, "type", "") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            for p in params:
                p.requires_grad_(True)
            for i, rows in enumerate(batches):
                batch = collator([dataset[j] for j in rows])
                batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
                work = batch["input_ids"].numel() if text else len(rows)

                def infer(batch=batch):
                    with torch.no_grad():
                        model.eval()
                        model(**batch)

                def train(batch=batch):
                    model.train()
                    out = model(**batch)
                    out.logits.float().sum().backward()

                f, s = _timed(infer, device), _timed(train, device)
                if i:  # the first batch warms up (allocations, kernels)
                    forward.append(f / work)
                    step.append(s / work)
        finally:
            for p, flag in zip(params, trainable, strict=True):
                p.grad = None
                p.requires_grad_(flag)
            model.train(was_training)
    return Costs(min(forward), min(step), "token" if text else "row")


def _round(seconds: float) -> float:
    return float(f"{seconds:.4g}")


def _words(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.2g} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def plan(
    model,
    groups,
    prepared: Any,
    collator,
    *,
    epochs: float,
    batch_size: int,
    device,
    requested_budget: float | None,
    cached: bool,
    processes: int,
    seed: int,
) -> FreezePlan:
    """The auto plan for this run: measured, estimated, chosen, with the reason in words."""
    costs = measure(model, prepared.train, collator, batch_size, device, seed)
    sizes = Sizes(
        units(prepared.train),
        units(prepared.eval),
        units(prepared.report),
        epochs,
        cached,
        processes,
    )
    plans = candidates(groups)
    estimates = [estimate(p, costs, sizes) for p in plans]
    forward_pass = costs.forward * sizes.train / max(1, processes)
    device_type = getattr(device, "type", str(device))
    budget = budget_for(requested_budget, forward_pass, device_type)
    index = choose(plans, estimates, budget, stretch=requested_budget is None)
    chosen = plans[index]
    how = (
        f"{AUTO_PASSES:g} forward passes over the training rows ({_words(forward_pass)} each)"
        if requested_budget is None
        else "time_budget"
    )
    if requested_budget is None and budget > AUTO_PASSES * forward_pass:
        how = f"the {device_type} minimum"
    fits = estimates[index] <= budget
    if fits:
        reason = (
            f"auto: {chosen.name}, the deepest plan whose estimated training time "
            f"({_words(estimates[index])} for {epochs:g} epochs on {device_type}) fits the "
            f"budget of {_words(budget)} ({how})"
        )
    elif index > 0:  # stretched: the head alone would fit
        reason = (
            f"auto: {chosen.name}, estimated at {_words(estimates[index])} for {epochs:g} epochs "
            f"on {device_type}, a little over the budget of {_words(budget)} ({how}): the head "
            f"alone over a frozen backbone scores far below a quick classical baseline on real "
            f"data, so the top block trains when it costs at most {STRETCH:g}x the budget"
        )
    else:
        reason = (
            f"auto: {chosen.name}: even this plan is estimated at {_words(estimates[index])}, "
            f"over the budget of {_words(budget)} ({how})"
        )
    if index + 1 < len(plans):
        deeper = plans[index + 1]
        reason += f"; {deeper.name} would take about {_words(estimates[index + 1])}"
    reason += ". Set time_budget to train more (or less), or freeze to choose yourself."
    names = [g.name for g in groups]
    frozen = list(chosen.frozen)
    return FreezePlan(
        frozen,
        [n for n in names if n not in set(frozen)],
        reason,
        name=chosen.name,
        estimate_s=_round(estimates[index]),
        budget_s=_round(budget),
        candidates=[
            {"name": p.name, "estimate_s": _round(t)} for p, t in zip(plans, estimates, strict=True)
        ],
    )
