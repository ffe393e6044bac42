"""Frozen-feature cache: compute the frozen part of the model once, train the rest on it.

When every layer group up to the last block is frozen (head only, or head + pooler/final
norm), the frozen part gives the same output for an example in every epoch: frozen groups run
in eval mode and the preprocessing has no randomness. So we run it once over the train and
eval sets (eval mode, on the device, in batches), keep its per-example outputs (as much of
them as the trainable part reads, in memory or on disk: see feature_store), and from then on
the "cut" module (the base model, or the module holding the blocks) returns the cached output
for the batch instead of computing it. Everything after the cut (pooler, head, loss) runs as
usual, so the optimizer, schedule, logging and checkpoints are unchanged.

The cut is found generically (no table per architecture): the base model for head-only runs;
else the parent module of the repeated blocks when it is not the base model itself and all of
its parameters are frozen. Per-token text outputs are stored with zeros past each example's
length and cut or padded to each batch's length. Not used with several processes, with a
tokenizer that pads on the left, or when the cache fits neither memory nor disk; the run's
status says why.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from finetune_core import model as model_mod
from finetune_core.train import phases as phases_mod
from finetune_core.train.cache import store as feature_store


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
        self.cut = model.get_submodule(cut)
        self.template: Any = None  # the output's type and field names
        self.keep: dict[str, str] = {}  # field -> how much of it is stored (feature_store)
        self.shapes: dict[str, tuple[torch.Size, torch.dtype]] = {}  # per example, as computed
        self.ragged: set[str] = set()  # per-token text fields: sequence length varies by batch
        self.store: dict[str, torch.Tensor] = {}  # field -> one row per example
        self.folder: Path | None = None  # the memory-mapped files, when on disk
        self.batch: tuple[torch.Tensor, int | None] | None = None
        self.note = ""  # where the cache went, or why it is off (set by build)
        self._capturing = True

    # ---- building ----------------------------------------------------------------
    @torch.inference_mode()
    def build(
        self, datasets, collator, batch_size: int, device, folder: Path, progress=None
    ) -> str | None:
        """One pass of the frozen part over every example (eval mode, on the device).
        Returns where the cache went ("1.2 MB in memory"), or None when it is too large to
        keep (see feature_store); `self.note` then says why. progress(done, total) is called
        after each batch, in examples."""
        from torch.utils.data import DataLoader

        current: dict[str, Any] = {}

        def hook(module, args, kwargs, output):
            if self._capturing:
                current["out"] = output
                raise _Captured

        n, where, done = sum(len(ds) for ds in datasets), None, 0
        was_training = self.model.training
        self.model.eval()
        handle = self.cut.register_forward_hook(hook, with_kwargs=True)
        # DataLoader iterators draw a seed from the global RNG: fork it so the cached run
        # sees the same random stream (dropout in the head, data order) as an uncached one
        devices = [device.index or 0] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                for ds in datasets:
                    for batch in DataLoader(ds, batch_size=batch_size * 2, collate_fn=collator):
                        index = batch.pop("cache_index")
                        batch.pop("labels", None)
                        batch = {k: v.to(device) for k, v in batch.items()}
                        with contextlib.suppress(_Captured):
                            self.model(**batch)
                        output, mask = current.pop("out"), batch.get("attention_mask")
                        if self.template is None:
                            where = self._plan(batch, output, n, _longest(datasets, mask), folder)
                            if where is None:
                                return None
                        self._write(index, output, mask)
                        done += len(index)
                        if progress:
                            progress(done, n)
        finally:
            handle.remove()
            self.model.train(was_training)
        return where

    def _plan(self, batch, output, n: int, longest: int | None, folder: Path) -> str | None:
        """From the first batch: which fields (and how much of each) to keep, and where."""
        fields = _fields(output)
        mask = batch.get("attention_mask")
        self.template = (type(output), list(fields))
        self.shapes = {name: (t.shape[1:], t.dtype) for name, t in fields.items()}
        self.ragged = {
            name
            for name, t in fields.items()
            if mask is not None and t.dim() >= 3 and t.shape[1] == mask.shape[1]
        }
        self.keep = feature_store.probe(
            fields, lambda replaced: self._logits(batch, {**fields, **replaced})
        )
        rows = {
            name: feature_store.row_shape(t, self.keep[name], name in self.ragged, longest)
            for name, t in fields.items()
        }
        if any(keep == feature_store.ALL and rows[k] is None for k, keep in self.keep.items()):
            self.note = "off (the examples' lengths are unknown)"
            return None
        size = n * sum(
            math.prod(shape) * fields[name].dtype.itemsize
            for name, shape in rows.items()
            if shape is not None
        )
        where, self.note = feature_store.place(size, folder)
        if where is None:
            return None
        if where == "disk":
            self.folder = folder
            folder.mkdir(parents=True, exist_ok=True)
        for name, shape in rows.items():
            if shape is not None:
                path = folder / f"{name}.bin"
                self.store[name] = feature_store.allocate(
                    where, (n, *shape), fields[name].dtype, path
                )
        return self.note

    def _logits(self, batch: dict, fields: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's logits on `batch` with these outputs of the cut."""
        output = _assemble(self.template, fields)
        self.cut.forward = lambda *args, **kwargs: output
        self._capturing = False
        try:
            result = self.model(**batch)
        finally:
            self._capturing = True
            self.cut.__dict__.pop("forward", None)
        return result.logits if hasattr(result, "logits") else result[0]

    def _write(self, index: torch.Tensor, output: Any, mask: torch.Tensor | None) -> None:
        for name, t in _fields(output).items():
            if name not in self.store:
                continue
            store = self.store[name]
            if self.keep[name] == feature_store.FIRST:
                t = t[:, :1]
            elif name in self.ragged:
                t = t[:, : store.shape[1]]
                real = mask[:, : t.shape[1]].bool().view(*t.shape[:2], *[1] * (t.dim() - 2))
                t = t.masked_fill(~real, 0)  # padding positions: zeros, as in any batch
            store[index, : t.shape[1]] = t.detach().to("cpu")

    def close(self) -> None:
        """Let go of the tensors, and of the files when the cache was on disk."""
        self.store = {}
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

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
            shape, dtype = self.shapes[name]
            full = length if name in self.ragged else (shape[0] if len(shape) else None)
            if name not in self.store:  # never read by the trainable part
                out[name] = torch.zeros((len(index), full, *shape[1:]), dtype=dtype, device=device)
                continue
            rows = self.store[name].index_select(0, index).to(device, non_blocking=True)
            out[name] = _fit(rows, full) if full is not None and rows.dim() >= 3 else rows
        return _assemble(self.template, out)


def _assemble(template, out: dict[str, torch.Tensor]):
    """An output of the cut's own type from its tensor fields."""
    kind = template[0]
    if kind is tuple:
        return tuple(out[name] for name in template[1])
    if issubclass(kind, torch.Tensor):
        return next(iter(out.values()))
    return kind(**out)


def _longest(datasets, mask: torch.Tensor | None) -> int | None:
    """The longest example (tokens), for per-token fields stored whole; None if unknown."""
    if mask is None:
        return None
    for key in ("attention_mask", "input_ids"):
        if all(key in ds.column_names for ds in datasets):
            return max(max((len(m) for m in ds[key]), default=0) for ds in datasets)
    return None


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


def plan(cfg, model, frozen: list[str], prepared, world_size: int):
    """A FeatureCache for this run (with index columns added to the data), or None and why."""
    if not cfg.feature_cache:
        return None, "off (feature_cache: false)"
    if world_size > 1:
        return None, "off (several processes)"
    cut, reason = find_cut(model, frozen)
    if cut is None:
        return None, f"off ({reason})"
    n = len(prepared.train)
    prepared.train = _with_index(prepared.train, 0)
    prepared.eval = _with_index(prepared.eval, n)
    return FeatureCache(model, cut), f"on (cut at {cut}: {reason})"


def _with_index(ds, start: int):
    """Number the examples (train first, then eval) so a batch can find its cached outputs."""
    return ds.add_column("cache_index", list(range(start, start + len(ds))))


def check_processor(cache: FeatureCache | None, note: str, processor):
    """Per-token outputs are stored trimmed on the right: a tokenizer that pads on the left
    would put them in the wrong places."""
    if cache is not None and getattr(processor, "padding_side", "right") == "left":
        return None, "off (the tokenizer pads on the left)"
    return cache, note


def build_for_run(
    cache: FeatureCache, note: str, trainer, prepared, collator, batch_size: int, phases, check_stop
) -> None:
    """Compute the frozen part once; a cache too large to keep leaves the run uncached."""
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        phases.count(phases_mod.CACHING, done, total)
        check_stop()  # this pass can take minutes: a stop must not wait for it

    phases.count(phases_mod.CACHING, 0, len(prepared.train) + len(prepared.eval))
    where = cache.build(
        [prepared.train, prepared.eval],
        collator,
        batch_size,
        trainer.args.device,
        phases.run_dir.path / ".feature-cache",
        progress=progress,
    )
    if where is not None:
        cache.activate()
        _use_padded_rows(trainer, collator)
        note = f"{note}, {where}, built in {time.monotonic() - started:.1f} s"
    else:
        note = cache.note
    if phases.is_main:
        phases.run_dir.write_status(feature_cache=note)


def _use_padded_rows(trainer, collator) -> None:
    """Give a cached text run batches that cost one slice per column (see padded_rows)."""
    from transformers import DataCollatorWithPadding

    from finetune_core.train.cache.padded_rows import PaddedRows

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
    from finetune_core.train.trainer import FinetuneTrainer

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
