"""Where the frozen-feature cache cuts the model: found from the layer groups, no table per
architecture.

The groups (model.py) come in the order the model runs them: embeddings, the repeated
blocks, what follows them (final norm, pooler), then the head. The cache can stand in for
the longest frozen run of groups from the start, as long as it ends at a module whose output
is all the rest reads:
- everything but the head frozen: the base model (head-only);
- everything up to the last block frozen: the module holding the blocks (head + pooler);
- the first K blocks and everything before them frozen: blocks 1..K, each replaying block
  K's output (the encoder's loop then feeds it to block K+1: a "last N blocks" plan).
Whatever is picked, the self-check in attach.py compares replayed and real logits before
the cache is used, so a cut that is wrong for some architecture only costs the speed-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_core import model as model_mod
from finetune_core.model.groups import base_prefix


@dataclass(frozen=True)
class Cut:
    """Modules whose forward is replayed from the cache; the last one's output is stored."""

    modules: tuple[str, ...]
    reason: str

    @property
    def capture(self) -> str:
        return self.modules[-1]

    def describe(self) -> str:
        if len(self.modules) == 1:
            return f"cut at {self.capture}: {self.reason}"
        return f"cut at {self.capture}, {len(self.modules)} blocks replayed: {self.reason}"


def find_cut(model, frozen: list[str]) -> tuple[Cut | None, str]:
    """(cut, reason); the cut is None when no frozen prefix can be cached."""
    groups = model_mod.layer_groups(model)
    frozen_set = set(frozen)
    prefix = base_prefix(model)
    if prefix and all(g.name in frozen_set for g in groups if g.kind != "head"):
        return Cut((prefix,), "head only"), "head only"
    leading = 0  # how many groups, from the first, are frozen
    while leading < len(groups) and groups[leading].name in frozen_set:
        leading += 1
    blocks = [i for i, g in enumerate(groups) if g.kind == "block"]
    if not blocks:
        return None, "the model has no repeated blocks"
    frozen_blocks = [i for i in blocks if i < leading]
    if not frozen_blocks:
        return None, "no block is frozen together with everything before it"
    container = groups[blocks[0]].name.rsplit(".", 1)[0]  # e.g. bert.encoder.layer
    parent = container.rsplit(".", 1)[0] if "." in container else ""
    if frozen_blocks[-1] == blocks[-1] and parent and parent != prefix:
        module = model.get_submodule(parent)
        if not any(p.requires_grad for p in module.parameters()):
            return Cut((parent,), "frozen up to the last block"), "frozen up to the last block"
    names = tuple(groups[i].name for i in frozen_blocks)
    reason = f"the first {len(names)} of {len(blocks)} blocks frozen"
    return Cut(names, reason), reason
