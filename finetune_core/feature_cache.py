"""Frozen-feature cache: compute the frozen part of the model once, train the rest on it.

When every layer group up to the last block is frozen (head only, or head + pooler/final
norm), the frozen part gives the same output for an example in every epoch: frozen groups run
in eval mode and the preprocessing has no randomness. So we run it once over the train and
eval sets (eval mode, on the device, in batches), keep its per-example outputs in memory, and
from then on the "cut" module (the base model, or the module holding the blocks) returns the
cached output for the batch instead of computing it. Everything after the cut (pooler, head,
loss) runs as usual, so the optimizer, schedule, logging and checkpoints are unchanged.

The cut is found generically (no table per architecture): the base model for head-only runs;
else the parent module of the repeated blocks when it is not the base model itself and all of
its parameters are frozen. Text outputs are stored trimmed to each example's length and padded
back per batch. Not used with several processes or when the cache would exceed
FINETUNE_CACHE_MAX_GB (default 4); the run's status says why.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from finetune_core import model as model_mod


class _Captured(Exception):
    """Raised by the capture hook: nothing after the cut needs computing while caching."""


def find_cut(model, frozen: list[str]) -> tuple[str | None, str]:
    """(module path to cut at, reason). None when the cache would not be exact."""
    groups = model_mod.layer_groups(model)
    frozen_set = set(frozen)
    non_head = [g for g in groups if g.kind != "head"]
    if all(g.name in frozen_set for g in non_head):
        prefix = model_mod._base_prefix(model)
        return (prefix or None), "head only"
    last_block = max((i for i, g in enumerate(groups) if g.kind == "block"), default=-1)
    if last_block < 0:
        return None, "the model has no repeated blocks"
    if any(g.name not in frozen_set for g in groups[: last_block + 1]):
        return None, "a layer before the last block trains"
    blocks = ".".join(groups[last_block].name.split(".")[:-1])
    parent = blocks.rsplit(".", 1)[0] if "." in blocks else ""
    if not parent or parent == model_mod._base_prefix(model):
        return None, "the blocks sit directly in the base model"
    module = model.get_submodule(parent)
    if any(p.requires_grad for p in module.parameters()):
        return None, f"{parent} has trainable parameters"
    return parent, "frozen up to the last block"


class FeatureCache:
    """Per-example outputs of the cut module, replayed batch by batch."""

    def __init__(self, model, cut: str):
        self.model = model
        self.cut_name = cut
        self.cut = model.get_submodule(cut)
        self.store: dict[int, dict[str, torch.Tensor]] = {}
        self.template: Any = None  # the output's type and field names
        self.batch: tuple[list[int], int | None] | None = None
        self.nbytes = 0

    # ---- building ----------------------------------------------------------------
    @torch.inference_mode()
    def build(self, datasets, collator, batch_size: int, device: torch.device) -> None:
        """One pass of the frozen part over every example (eval mode, on the device)."""
        current: dict[str, Any] = {}

        def hook(module, args, kwargs, output):
            current["out"] = output
            raise _Captured

        was_training = self.model.training
        self.model.eval()
        handle = self.cut.register_forward_hook(hook, with_kwargs=True)
        # DataLoader iterators draw a seed from the global RNG: fork it so the cached run
        # sees the same random stream (dropout in the head, data order) as an uncached one
        devices = [device.index or 0] if device.type == "cuda" else []
        rng = torch.random.fork_rng(devices=devices)
        try:
            with rng:
                for ds in datasets:
                    self._pass(ds, collator, batch_size, device, current)
        finally:
            handle.remove()
            self.model.train(was_training)

    def _pass(self, ds, collator, batch_size: int, device, current: dict) -> None:
        from torch.utils.data import DataLoader

        for batch in DataLoader(ds, batch_size=batch_size * 2, collate_fn=collator):
            index = batch.pop("cache_index").tolist()
            batch.pop("labels", None)
            batch = {k: v.to(device) for k, v in batch.items()}
            with contextlib.suppress(_Captured):
                self.model(**batch)
            self._keep(index, current.pop("out"), batch.get("attention_mask"))

    def _keep(self, index: list[int], output: Any, mask: torch.Tensor | None) -> None:
        fields = _fields(output)
        if self.template is None:
            self.template = (type(output), list(fields))
        lengths = mask.sum(-1).tolist() if mask is not None else None
        for row, example in enumerate(index):
            entry = {}
            for name, tensor in fields.items():
                t = tensor[row]
                if lengths is not None and t.dim() >= 2 and t.shape[0] == mask.shape[1]:
                    t = t[: int(lengths[row])]
                entry[name] = t.detach().to("cpu", copy=True)
                self.nbytes += entry[name].numel() * entry[name].element_size()
            self.store[example] = entry

    # ---- replaying ---------------------------------------------------------------
    def activate(self) -> None:
        self.cut.forward = self._replay  # instance attribute: state_dict and saving untouched

    def deactivate(self) -> None:
        self.cut.__dict__.pop("forward", None)

    def set_batch(self, index: torch.Tensor, mask: torch.Tensor | None) -> None:
        self.batch = (index.tolist(), mask.shape[1] if mask is not None else None)

    def _replay(self, *args, **kwargs):
        if self.batch is None:
            raise RuntimeError("feature cache used without a batch index")
        index, length = self.batch
        device = next(self.model.parameters()).device
        out = {}
        for name in self.template[1]:
            rows = [self.store[i][name] for i in index]
            if rows[0].dim() >= 2 and length is not None:
                rows = [_pad(r, length) for r in rows]
            out[name] = torch.stack(rows).to(device)
        kind = self.template[0]
        if kind is tuple:
            return tuple(out.values())
        if issubclass(kind, torch.Tensor):
            return next(iter(out.values()))
        return kind(**out)


def _fields(output: Any) -> dict[str, torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return {"0": output}
    if isinstance(output, tuple) and not hasattr(output, "keys"):
        return {str(i): t for i, t in enumerate(output) if isinstance(t, torch.Tensor)}
    return {k: v for k, v in output.items() if isinstance(v, torch.Tensor)}


def _pad(t: torch.Tensor, length: int) -> torch.Tensor:
    if t.shape[0] >= length:
        return t[:length]
    pad = torch.zeros((length - t.shape[0], *t.shape[1:]), dtype=t.dtype)
    return torch.cat([t, pad])


def max_bytes() -> float:
    return float(os.environ.get("FINETUNE_CACHE_MAX_GB", 4)) * 2**30


def estimate_bytes(model, n_examples: int, max_length: int, task: str) -> int:
    """Upper bound of the cache size: a hidden-size vector per token (text) or patch (image)."""
    hidden = getattr(model.config, "hidden_size", None) or 1024
    tokens = max_length if task == "text" else 257
    return int(n_examples * tokens * hidden * 4 * 2)


def plan(cfg, model, frozen: list[str], prepared, task: str, world_size: int):
    """A FeatureCache for this run (with index columns added to the data), or None and why."""
    if not cfg.feature_cache:
        return None, "off (feature_cache: false)"
    if world_size > 1:
        return None, "off (several processes)"
    cut, reason = find_cut(model, frozen)
    if cut is None:
        return None, f"off ({reason})"
    size = estimate_bytes(model, len(prepared.train) + len(prepared.eval), cfg.max_length, task)
    if size > max_bytes():
        return None, f"off (about {size / 2**30:.1f} GB > FINETUNE_CACHE_MAX_GB)"
    n = len(prepared.train)
    prepared.train = _with_index(prepared.train, 0)
    prepared.eval = _with_index(prepared.eval, n)
    return FeatureCache(model, cut), f"on (cut at {cut}: {reason})"


def _with_index(ds, start: int):
    """Number the examples (train first, then eval) so a batch can find its cached outputs."""
    return ds.add_column("cache_index", list(range(start, start + len(ds))))


def trainer_class(cache: FeatureCache | None):
    """transformers.Trainer with a cheaper FLOP count, and, with a cache, a subclass that
    tells the cache which examples a batch holds."""
    from transformers import Trainer

    class FinetuneTrainer(Trainer):
        _flop_params: int | None = None

        def floating_point_ops(self, inputs):
            """The Trainer's estimate (6 x tokens x non-embedding parameters), with the
            parameter count taken once: the stock method walks every module at every step,
            about 2 ms a step for all-MiniLM-L6-v2 on CPU, 15% of a cached step."""
            main = getattr(self.model, "main_input_name", "input_ids")
            if main not in inputs or not hasattr(self.model, "num_parameters"):
                return 0
            if self._flop_params is None:
                self._flop_params = self.model.num_parameters(exclude_embeddings=True)
            return 6 * inputs[main].numel() * self._flop_params

    if cache is None:
        return FinetuneTrainer

    class CachedTrainer(FinetuneTrainer):
        def _point(self, inputs):
            index = inputs.pop("cache_index", None)
            if index is not None:
                cache.set_batch(index, inputs.get("attention_mask"))

        def compute_loss(self, model, inputs, *args, **kwargs):
            self._point(inputs)
            return super().compute_loss(model, inputs, *args, **kwargs)

        def prediction_step(self, model, inputs, *args, **kwargs):
            self._point(inputs)
            return super().prediction_step(model, inputs, *args, **kwargs)

    return CachedTrainer
