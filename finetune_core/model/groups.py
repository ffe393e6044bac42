"""Layer groups and freezing, generic across architectures (no table per model family).

Inside `model.base_model` the repeated-block `nn.ModuleList` with the most parameters is
expanded into one group per block; every other parameter of the base model belongs to the
shallowest module that does not contain those blocks (embeddings before, final norm and
pooler after); every parameter outside the base model belongs to the head. Every parameter
is in exactly one group. Frozen groups carry no gradients and stay in eval mode.
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass

from finetune_core.errors import ConfigError


@dataclass
class LayerGroup:
    name: str
    kind: str  # embeddings | block | norm | head | other
    params: int


def _blocks_path(base) -> str | None:
    """Path (inside the base model) of the repeated-block ModuleList with most parameters."""
    import torch.nn as nn

    best, best_params = None, 0
    for name, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            params = sum(p.numel() for p in module.parameters())
            if params > best_params:
                best, best_params = name, params
    return best


def base_prefix(model) -> str:
    base = model.base_model
    if base is model:
        return ""
    for name, module in model.named_children():
        if module is base:
            return name
    return getattr(model, "base_model_prefix", "")


def group_of_params(model) -> dict[str, tuple[str, str]]:
    """Map every parameter name to (group name, kind)."""
    prefix = base_prefix(model)
    base = model.base_model
    blocks = _blocks_path(base) if prefix else None
    full_blocks = f"{prefix}.{blocks}" if blocks else None
    ancestors = set()
    if full_blocks:
        parts = full_blocks.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}

    seen_blocks = False
    result: dict[str, tuple[str, str]] = {}
    for pname, _ in model.named_parameters():
        if not prefix or not (pname == prefix or pname.startswith(prefix + ".")):
            result[pname] = (pname.split(".")[0], "head")
            continue
        if full_blocks and pname.startswith(full_blocks + "."):
            index = pname[len(full_blocks) + 1 :].split(".")[0]
            result[pname] = (f"{full_blocks}.{index}", "block")
            seen_blocks = True
            continue
        # shallowest module below the base that is not on the path to the blocks
        parts = pname.split(".")
        depth = 2
        while ".".join(parts[:depth]) in ancestors and depth < len(parts):
            depth += 1
        group = ".".join(parts[: min(depth, len(parts) - 1) or 1]) if len(parts) > 2 else pname
        result[pname] = (group, _kind(group, seen_blocks))
    return result


def _kind(group: str, after_blocks: bool) -> str:
    leaf = group.rsplit(".", 1)[-1].lower()
    if not after_blocks:
        return "embeddings" if "embed" in leaf or "patch" in leaf or "stem" in leaf else "other"
    return "norm" if "norm" in leaf or leaf.startswith("ln") else "other"


def layer_groups(model) -> list[LayerGroup]:
    """Groups in parameter order, with parameter counts."""
    mapping = group_of_params(model)
    groups: dict[str, LayerGroup] = {}
    for pname, param in model.named_parameters():
        name, kind = mapping[pname]
        group = groups.setdefault(name, LayerGroup(name, kind, 0))
        group.params += param.numel()
    return list(groups.values())


def resolve_freeze(freeze: str | list[str], groups: list[LayerGroup]) -> list[str]:
    """Names of the frozen groups for a freeze setting; unknown names are a ConfigError."""
    names = [g.name for g in groups]
    if freeze == "backbone":
        frozen = [g.name for g in groups if g.kind != "head"]
    elif freeze == "none":
        frozen = []
    else:
        unknown = [n for n in freeze if n not in names]
        if unknown:
            raise ConfigError(
                f"freeze names unknown layer group(s) {', '.join(unknown)}; the groups are "
                f"{', '.join(names)} (see `finetune inspect MODEL`)."
            )
        frozen = [n for n in names if n in set(freeze)]
    if len(frozen) == len(names):
        raise ConfigError("The freeze plan leaves nothing trainable; unfreeze at least the head.")
    return frozen


def _stay_in_eval(self, mode: bool = True):
    return self


def apply_freeze(model, frozen: list[str]) -> None:
    """Frozen groups: no gradients (so no optimizer state) and pinned in eval mode.

    Pinning matters: the Trainer calls model.train() every step, which would turn dropout
    back on in frozen blocks and update BatchNorm statistics of a "frozen" backbone.
    """
    mapping = group_of_params(model)
    frozen_set = set(frozen)
    for pname, param in model.named_parameters():
        param.requires_grad_(mapping[pname][0] not in frozen_set)
    for name in frozen:
        with contextlib.suppress(AttributeError):
            module = model.get_submodule(name)
            module.eval()
            module.train = types.MethodType(_stay_in_eval, module)
