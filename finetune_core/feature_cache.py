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
        self.store: dict[str, torch.Tensor] = {}  # output field -> one row per example
        self.template: Any = None  # the output's type and field names
        self.ragged: set[str] = set()  # per-token fields, stored without padding
        self._rows: dict[str, dict[int, torch.Tensor]] = {}
        self.batch: tuple[torch.Tensor, int | None] | None = None
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
            self._finish()
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
            self.ragged = {
                name
                for name, t in fields.items()
                if mask is not None and t.dim() >= 3 and t.shape[1] == mask.shape[1]
            }
        lengths = mask.sum(-1).tolist() if mask is not None else None
        for name, tensor in fields.items():
            rows = self._rows.setdefault(name, {})
            for row, example in enumerate(index):
                t = tensor[row]
                if name in self.ragged:
                    t = t[: int(lengths[row])]  # drop the padding; put back per batch
                rows[example] = t.detach().to("cpu", copy=True)

    def _finish(self) -> None:
        """One tensor per output field, rows in example order (per-token fields padded with
        zeros to the longest example), so a batch is one index_select."""
        for name, rows in self._rows.items():
            ordered = [rows[i] for i in range(len(rows))]
            if name in self.ragged:
                self.store[name] = torch.nn.utils.rnn.pad_sequence(ordered, batch_first=True)
            else:
                self.store[name] = torch.stack(ordered)
            self.nbytes += self.store[name].numel() * self.store[name].element_size()
        self._rows = {}

    # ---- replaying ---------------------------------------------------------------
    def activate(self) -> None:
        self.cut.forward = self._replay  # instance attribute: state_dict and saving untouched

    def deactivate(self) -> None:
        self.cut.__dict__.pop("forward", None)

    def set_batch(self, index: torch.Tensor, mask: torch.Tensor | None) -> None:
        self.batch = (index.to("cpu"), mask.shape[1] if mask is not None else None)

    def _replay(self, *args, **kwargs):
        if self.batch is None:
            raise RuntimeError("feature cache used without a batch index")
        index, length = self.batch
        device = next(self.model.parameters()).device
        out = {}
        for name in self.template[1]:
            rows = self.store[name].index_select(0, index)
            if name in self.ragged:
                rows = _fit(rows, length)
            out[name] = rows.to(device, non_blocking=True)
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


def _fit(rows: torch.Tensor, length: int) -> torch.Tensor:
    """Per-token rows cut or zero-padded to the batch's sequence length."""
    if rows.shape[1] >= length:
        return rows[:, :length]
    pad = rows.new_zeros((rows.shape[0], length - rows.shape[1], *rows.shape[2:]))
    return torch.cat([rows, pad], dim=1)


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


def use_padded_rows(trainer, collator) -> None:
    """Give a cached text run batches that cost one slice per column (see padded_rows)."""
    from transformers import DataCollatorWithPadding

    from finetune_core.padded_rows import PaddedRows

    if not isinstance(collator, DataCollatorWithPadding):
        return  # images: the processor runs per batch as usual
    train, evaluation = trainer.train_dataset, trainer.eval_dataset
    rows = PaddedRows([train, evaluation], collator, collator.pad_to_multiple_of)
    trainer.train_dataset = rows.split(0, len(train))
    trainer.eval_dataset = rows.split(len(train), len(evaluation))
    trainer.data_collator = rows.collate


def trainer_class(cache: FeatureCache | None):
    """The project's Trainer, and with a cache a subclass that tells the cache which examples
    a batch holds."""
    from finetune_core.trainer import FinetuneTrainer

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
