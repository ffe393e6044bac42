"""The feature cache's one entry point: attach it to a Trainer, or say why not.

    with attach.attached(trainer, cfg, frozen, writer=writer, check_stop=check_stop):
        trainer.train()
        ...                       # evaluation and prediction through the trainer

attach() finds the cut (cut.py), computes the frozen part once (features.py), gives the
Trainer numbered rows (padded_rows.py) and two hooks on the model (a batch's "cache_index"
selects the cached outputs for that one call), then checks itself: on the first training
batch the logits from replayed features must match the real forward pass. If they do not
(a field the probe misjudged, an architecture whose cut is not what the groups suggest), the
Trainer gets its own data back and the run trains uncached; the note (status.json's
"feature_cache") says why. Never used with several processes or a tokenizer that pads on the
left (per-token outputs are stored trimmed on the right).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from finetune_core.runs import phases
from finetune_core.train.cache.cut import find_cut
from finetune_core.train.cache.features import FeatureCache, logits_of
from finetune_core.train.cache.padded_rows import INDEX, rows_for

CACHE_FOLDER = ".feature-cache"


@dataclass
class Attachment:
    """What attach() did: the note for status.json, and how to undo it."""

    note: str
    cache: FeatureCache | None = None
    _undo: list[Callable[[], None]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # name -> the cached rows of a split

    @property
    def on(self) -> bool:
        return self.cache is not None

    def rows(self, name: str, dataset: Any) -> Any:
        """What the Trainer evaluates for an extra split: its cached rows when the cache is on
        (the Trainer's collator then expects row numbers), else the dataset itself."""
        return self.extra.get(name, dataset) if self.on else dataset

    def close(self) -> None:
        """Remove the hooks, give the Trainer its data back, free the cached tensors."""
        while self._undo:
            self._undo.pop()()


def attach(
    trainer,
    frozen: list[str],
    *,
    enabled: bool = True,
    world_size: int = 1,
    folder: Path,
    progress: Callable[[int, int], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> Attachment:
    """Cache the frozen part of trainer.model for trainer's train and eval sets (and the
    `extra` splits, e.g. the report split: `Attachment.rows(name, ds)`), if that is exact; see
    the module doc."""
    if not enabled:
        return Attachment("off (feature_cache: false)")
    if world_size > 1:
        return Attachment("off (several processes)")
    processor = getattr(trainer, "processing_class", None)
    if getattr(processor, "padding_side", "right") == "left":
        return Attachment("off (the tokenizer pads on the left)")
    model = trainer.model
    cut, reason = find_cut(model, frozen)
    if cut is None:
        return Attachment(f"off ({reason})")
    started = time.monotonic()
    device = trainer.args.device
    # the pass and the check draw no randomness from the run's stream: a cached run sees the
    # same dropout and data order as an uncached one
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        attachment = _build_and_check(
            trainer, FeatureCache(model, cut), folder, progress, extra or {}
        )
    if attachment.on:
        attachment.note += f", built in {time.monotonic() - started:.1f} s"
    return attachment


def _build_and_check(
    trainer, cache: FeatureCache, folder: Path, progress, extra: dict[str, Any]
) -> Attachment:
    train, evaluation, collator = trainer.train_dataset, trainer.eval_dataset, trainer.data_collator
    splits = [train] if evaluation is None else [train, evaluation]
    splits += list(extra.values())
    rows = rows_for(splits, collator)
    batch_size = trainer.args.per_device_train_batch_size
    attachment = Attachment(f"on ({cache.cut.describe()})", cache, [cache.close])
    try:
        n = sum(len(s) for s in splits)
        where = cache.build(
            rows.collate, n, rows.lengths, batch_size, trainer.args.device, folder, progress
        )
        if where is None:
            attachment.close()
            return Attachment(cache.note)
        attachment.note += f", {where}"
        _hook(trainer.model, cache, attachment)
        trainer.train_dataset = rows.split(0, len(train))
        start = len(train)
        if evaluation is not None:
            trainer.eval_dataset = rows.split(start, len(evaluation))
            start += len(evaluation)
        for name, split in extra.items():
            attachment.extra[name] = rows.split(start, len(split))
            start += len(split)
        trainer.data_collator = rows.collate

        def give_back() -> None:
            trainer.train_dataset, trainer.eval_dataset = train, evaluation
            trainer.data_collator = collator

        attachment._undo.append(give_back)
        failure = self_check(
            trainer.model,
            rows.collate(_check_rows(rows, len(train), batch_size)),
            trainer.args.device,
        )
    except BaseException:  # a stop during the pass: leave nothing behind
        attachment.close()
        raise
    if failure:
        attachment.close()
        return Attachment(f"off (self-check failed: {failure})")
    return attachment


def _hook(model, cache: FeatureCache, attachment: Attachment) -> None:
    """A call of the model with "cache_index" replays those examples at the cut."""

    def before(module, args, kwargs):
        index = kwargs.pop(INDEX, None)
        if index is not None:
            cache.begin(index, kwargs.get("attention_mask"))
        return args, kwargs

    def after(module, args, kwargs, output):
        cache.end()

    handles = [
        model.register_forward_pre_hook(before, with_kwargs=True),
        model.register_forward_hook(after, with_kwargs=True, always_call=True),
    ]
    attachment._undo.append(lambda: [h.remove() for h in handles])


def _check_rows(rows, n_train: int, batch_size: int) -> list[int]:
    """The first training batch's rows, with the longest row of all in it: per-token outputs
    are stored up to that length, so it is where a trimming error would show."""
    index = list(range(min(batch_size, n_train)))
    if rows.lengths:
        longest = max(range(len(rows.lengths)), key=rows.lengths.__getitem__)
        index = [*index[:-1], longest] if longest not in index else index
    return index


@torch.no_grad()
def self_check(model, batch: dict, device) -> str | None:
    """None when the logits from replayed features match the real forward pass on `batch`
    (eval mode), else what differs."""
    batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
    index = batch.pop(INDEX)
    was_training = model.training
    model.eval()
    try:
        real = logits_of(model(**batch)).float()
        replayed = logits_of(model(**batch, **{INDEX: index})).float()
    finally:
        model.train(was_training)
    scale = max(1.0, float(real.abs().max()))
    if torch.allclose(replayed, real, rtol=1e-3, atol=1e-3 * scale):
        return None
    gap = float((replayed - real).abs().max())
    return f"replayed features give logits up to {gap:.3g} away from the real forward pass"


@contextlib.contextmanager
def attached(
    trainer, cfg, frozen: list[str], *, world_size: int, writer, check_stop, extra=None
) -> Iterator:
    """attach() for a run: progress in the run's phases (a stop ends the pass), the note in
    status.json (the run's RunWriter), and everything undone when the block ends."""

    def progress(done: int, total: int) -> None:
        writer.phase(phases.CACHING, done, total)
        check_stop()  # this pass can take minutes: a stop must not wait for it

    attachment = Attachment("off")
    try:
        attachment = attach(
            trainer,
            frozen,
            enabled=cfg.feature_cache,
            world_size=world_size,
            folder=writer.run.path / CACHE_FOLDER,
            progress=progress,
            extra=extra,
        )
        writer.note(feature_cache=attachment.note)
        yield attachment
    finally:
        attachment.close()
