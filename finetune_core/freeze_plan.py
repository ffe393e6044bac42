"""The freeze plan: which layer groups train, and why, for a `freeze` setting.

`freeze: auto` (the default) picks among `candidates(groups)`, from shallow to deep: the head
with what follows the blocks (pooler, final norm), the top 1, 2, ... blocks with them, and
everything. train/budget.py times a few steps and takes the deepest candidate whose estimated
training time fits the run's time budget (measured on TREC, 6 classes, all-MiniLM-L6-v2 on 2
CPU cores: head + pooler 0.67 macro F1, top block 0.94, top 3 blocks 0.96, full 0.96-0.975).
When nothing can be measured, `plan_freeze` keeps the family rule: a sentence-embedding
checkpoint (sentence-transformers ships modules.json) was trained with mean pooling, so the
groups after its blocks (BERT's pooler, a final norm) never learned to feed a classifier and
train with the head; any other checkpoint trains the head only.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from finetune_core.errors import ConfigError
from finetune_core.model import LayerGroup, local_path, resolve_freeze


@dataclass
class FreezePlan:
    """What trains and why: status.json `freeze_plan` and config.json record it. An auto plan
    also records its name, its estimate and the budget it was chosen under (train/budget.py)."""

    frozen: list[str]
    trainable: list[str]
    reason: str
    name: str | None = None  # "top 2 blocks + pooler + head"
    estimate_s: float | None = None  # the chosen plan's estimated training time
    budget_s: float | None = None
    candidates: list[dict[str, Any]] | None = None  # [{"name", "estimate_s"}], shallow to deep

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Candidate:
    """One plan `freeze: auto` may choose: the frozen groups and how many blocks train."""

    name: str
    frozen: tuple[str, ...]
    share: float  # the share of the blocks (of the forward pass) that trains: 0 to 1


def candidates(groups: list[LayerGroup]) -> list[Candidate]:
    """The plans auto chooses among, shallow to deep. Every one trains what follows the blocks
    (a pooler or final norm reads the blocks' output for the head, and costs nothing)."""
    names = [g.name for g in groups]
    blocks = [i for i, g in enumerate(groups) if g.kind == "block"]
    if not blocks:
        head = tuple(resolve_freeze("backbone", groups))
        return [Candidate("head", head, 0.0), Candidate("everything", (), 1.0)]
    last = blocks[-1]
    after = [g.name.rsplit(".", 1)[-1] for g in groups[last + 1 :] if g.kind != "head"]
    tail = " + ".join([*after, "head"])
    out = [Candidate(tail, tuple(names[: last + 1]), 0.0)]
    for k in range(1, len(blocks)):
        cut = blocks[-k]  # the first trainable block
        word = "block" if k == 1 else f"{k} blocks"
        out.append(Candidate(f"top {word} + {tail}", tuple(names[:cut]), k / len(blocks)))
    out.append(Candidate("everything", (), 1.0))
    return out


SENTENCE_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")
_sentence_cache: dict[str, bool] = {}


def is_sentence_embedding(source: str, token: str | None = None) -> bool:
    """A sentence-transformers checkpoint (it ships modules.json and friends), so it was trained
    with mean pooling and its BERT pooler / final norm was never trained for classification."""
    source = str(source or "").strip()
    if source in _sentence_cache:
        return _sentence_cache[source]
    path = local_path(source)
    if os.path.isdir(path):
        found = any(os.path.isfile(os.path.join(path, f)) for f in SENTENCE_FILES)
    else:
        from huggingface_hub import HfApi

        from finetune_core.hub.net import (
            DeadlineExceeded,
            hub_timeout,
            offline_reason,
            run_with_deadline,
        )

        def files() -> list[str]:
            return HfApi().list_repo_files(path, token=token or None)

        try:
            if offline_reason():
                raise DeadlineExceeded("offline")
            found = any(f in SENTENCE_FILES for f in run_with_deadline(files, hub_timeout()))
        except Exception:  # Hub unreachable: the owner is the best evidence left (not cached)
            return source.startswith("sentence-transformers/")
    _sentence_cache[source] = found
    return found


POOLER_REASON = (
    "{model} is a sentence-embedding checkpoint: it was trained with mean pooling, so its "
    "{after} never learned to feed a classifier; the head and {after} train, the rest stays "
    "frozen (measured on SMS spam: macro F1 0.95 vs 0.46 with the pooler frozen)."
)
HEAD_REASON = (
    "The pretrained backbone stays frozen and only the new head trains (fast, and the feature "
    "cache makes every epoch after the first cheap); if the loss stays flat, train more groups."
)


def plan_freeze(
    freeze: str | list[str], groups: list[LayerGroup], source: str = "", token: str | None = None
) -> FreezePlan:
    """The frozen groups for a freeze setting, with the reason. "auto" is the one place that
    decides the default plan: the CLI, the YAML and the page all ask here."""
    names = [g.name for g in groups]
    if freeze == "auto":
        last_block = max((i for i, g in enumerate(groups) if g.kind == "block"), default=-1)
        after = [g.name for g in groups[last_block + 1 :] if g.kind != "head"]
        if after and last_block >= 0 and is_sentence_embedding(source, token):
            frozen = names[: last_block + 1]  # every group up to the last block; `after` trains
            words = ", ".join(n.rsplit(".", 1)[-1] for n in after)
            reason = POOLER_REASON.format(model=source or "the model", after=words)
        else:
            frozen, reason = resolve_freeze("backbone", groups), HEAD_REASON
    else:
        frozen = resolve_freeze(freeze, groups)
        reason = {
            "backbone": "freeze: backbone: every group but the new head is frozen.",
            "none": "freeze: none: every group trains.",
        }.get(freeze if isinstance(freeze, str) else "", "freeze lists the frozen groups.")
    if len(frozen) == len(names):
        raise ConfigError("The freeze plan leaves nothing trainable; unfreeze at least the head.")
    return FreezePlan(frozen, [n for n in names if n not in set(frozen)], reason)


def plan_for_run(cfg, groups: list[LayerGroup], token: str | None = None) -> FreezePlan:
    """The run's plan (config.json records it as freeze_plan); a resumed run reuses the recorded
    one, so a later change of the auto rule cannot change what its checkpoints hold."""
    saved = cfg.freeze_plan
    if saved and isinstance(saved.get("frozen"), list):
        plan = plan_freeze(saved["frozen"], groups, cfg.model, token)
        plan.reason = str(saved.get("reason") or plan.reason)
    else:
        plan = plan_freeze(cfg.freeze, groups, cfg.model, token)
    return plan
