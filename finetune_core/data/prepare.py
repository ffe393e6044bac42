"""Prepare a loaded dataset for one run: encode labels, check them against the config, make
the evaluation split (given, or a stratified seeded hold-out), then tokenize text (truncation
only; padding is per batch) or attach the image processor (applied on the fly).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from finetune_core.data import bounds, labels, multilabel, splits
from finetune_core.data.detect import TEXT_NAMES
from finetune_core.data.load import (
    Columns,
    detect_columns,
    feature_kind,
    load_checked,
)
from finetune_core.errors import DataError


@dataclass
class PreparedData:
    """Splits ready for the Trainer, plus what the run dir records about them."""

    train: Any
    eval: Any  # the selection part: evaluated every epoch (keep_best, lr search, thresholds)
    report: Any  # the part eval.json reports on: never seen by selection (data/splits.py)
    report_raw: Any  # the report part before preprocessing, for showing examples
    train_raw: Any  # train and selection before preprocessing (the quick baseline reads them)
    eval_raw: Any
    columns: Columns
    label_names: list[str]
    eval_source: str  # selection: "validation" (a split name) or "held out 10% of train"
    report_source: str  # "test" (a split name) or "held out 10% of train"
    warnings: list[str] = field(default_factory=list)  # sentences for status.json
    multi_label: bool = False  # labels are multi-hot vectors (sigmoid + binary cross-entropy)


def prepare(cfg, *, token: str | None = None, ds=None) -> PreparedData:
    """Load (unless `ds` is given), detect, validate and split the data for `cfg`."""
    warnings: list[str] = []
    if ds is None:
        loaded = load_checked(cfg.dataset, cfg.dataset_config, token)
        ds, warnings = loaded.ds, loaded.warnings
    if cfg.train_split not in ds:
        raise DataError(
            f"Split '{cfg.train_split}' is not in the dataset; its splits are "
            f"{', '.join(ds)}. Set train_split to one of them."
        )
    if cfg.eval_split is not None and cfg.eval_split not in ds:
        raise DataError(
            f"Split '{cfg.eval_split}' is not in the dataset; its splits are "
            f"{', '.join(ds)}. Set eval_split to one of them or leave it empty."
        )
    train = ds[cfg.train_split]
    if len(train) == 0:
        raise DataError(f"Split '{cfg.train_split}' is empty; choose a split with rows.")
    cols = detect_columns(
        train, text=cfg.text_column, image=cfg.image_column, label=cfg.label_column
    )
    if cols.label is None:
        raise DataError(
            "No label column found; name it with label_column (columns: "
            f"{', '.join(train.column_names)})."
        )
    if cols.text is None and cols.image is None:
        named = [c for c in train.column_names if c.lower() in TEXT_NAMES and c != cols.label]
        if named:
            kind = feature_kind(train.features[named[0]])
            if all(v is None for v in train.select(range(min(len(train), 2000)))[named[0]]):
                raise DataError(
                    f"Column '{named[0]}' is empty in every row; fill in the text or name "
                    "the text column."
                )
            raise DataError(
                f"Column '{named[0]}' holds {kind} values, not only text; every text cell must "
                "be a string (quote numbers in the file, or name the text column)."
            )
        raise DataError("No text or image column found; name it with text_column or image_column.")
    if cfg.task == "image" and cols.image is None:
        raise DataError("task is 'image' but the dataset has no image column.")
    if cfg.task == "text" and cols.text is None:
        raise DataError("task is 'text' but the dataset has no text column.")

    used = [c for c in (cols.text, cols.image, cols.label) if c]
    keep = {name: split.select_columns(used) for name, split in ds.items()}
    import datasets

    ds = datasets.DatasetDict(keep)
    found = labels.survey(
        ds, cols.label, getattr(cfg, "problem_type", "auto"), split=cfg.train_split
    )
    bounds.check_classes(len(found.names), cols.label)  # hosted cap, before encoding
    ds, names, problem = labels.encode(ds, found), found.names, found.reading.problem_type
    if len(names) < 2:
        raise DataError(
            f"Label column '{cols.label}' has only one class ({names[0] if names else 'none'}); "
            "a classifier needs at least two."
        )
    if cfg.num_labels is not None and cfg.num_labels != len(names):
        raise DataError(
            f"num_labels is {cfg.num_labels} but label column '{cols.label}' has "
            f"{len(names)} classes ({', '.join(names[:10])}); set num_labels to "
            f"{len(names)} or leave it empty."
        )

    parts = splits.split_parts(ds, cfg, cols.label)
    train, select, report = parts.train, parts.select, parts.report
    for split, source in ((select, parts.select_source), (report, parts.report_source)):
        if len(split) == 0:
            raise DataError(f"The evaluation split '{source}' is empty; choose another eval_split.")
    if cfg.max_train_samples:
        train = train.shuffle(seed=cfg.seed).select(range(min(len(train), cfg.max_train_samples)))
    if cfg.max_eval_samples:
        n = cfg.max_eval_samples
        select = select.shuffle(seed=cfg.seed).select(range(min(len(select), n)))
        report = report.shuffle(seed=cfg.seed).select(range(min(len(report), n)))
    if cols.text:
        for name, split in (("train", train), ("selection", select), ("report", report)):
            _check_text(split, cols.text, name)
    warnings += found.sentences  # how the labels were read, merged spellings
    return PreparedData(
        train,
        select,
        report,
        report,
        train,
        select,
        cols,
        names,
        parts.select_source,
        parts.report_source,
        warnings,
        multi_label=problem == multilabel.MULTI,
    )


def _check_text(split, column: str, where: str) -> None:
    for i, value in enumerate(split[column]):
        if not isinstance(value, str):
            raise DataError(
                f"Text column '{column}' has a {type(value).__name__} value in {where} row "
                f"{i} ({value!r}); every text cell must be a string."
            )


def tokenize(data: PreparedData, tokenizer, max_length: int) -> PreparedData:
    """Tokenize text splits (truncation only; padding is dynamic, per batch)."""
    text, label = data.columns.text, data.columns.label

    def encode(batch: dict) -> dict:
        out = tokenizer(batch[text], truncation=True, max_length=max_length)
        out["labels"] = batch[label]
        return out

    def run(split, name):
        drop = split.column_names
        return split.map(
            encode,
            batched=True,
            remove_columns=drop,
            desc=f"Tokenizing {name}",
            new_fingerprint=_tokenized_fingerprint(split, tokenizer, max_length, text, label),
        )

    data.train = run(data.train, "train")
    data.eval = run(data.eval, "selection")
    data.report = run(data.report, "report")
    return data


def _tokenized_fingerprint(split, tokenizer, max_length, text, label) -> str | None:
    """The tokenized split's cache key from what decides its content. Left to datasets, the
    key is a hash of the pickled `encode` closure, tokenizer included: 0.6 s a split for
    all-MiniLM-L6-v2, most of a warm demo's start-up. A slow tokenizer (no serialized form):
    None, datasets' own hash."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not getattr(split, "_fingerprint", None):
        return None
    digest = hashlib.sha256(b"finetune_core.tokenize v1")
    parts = (split._fingerprint, type(tokenizer).__name__, backend.to_str())
    parts += (tokenizer.truncation_side, str(tokenizer.model_input_names), str(max_length))
    for part in (*parts, text, label):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:32]


def attach_image_transform(data: PreparedData, processor) -> PreparedData:
    """Apply the image processor on the fly (no decoded copy of the dataset on disk)."""
    image, label = data.columns.image, data.columns.label

    def transform(batch: dict) -> dict:
        try:
            images = [img.convert("RGB") for img in batch[image]]
        except Exception as exc:
            raise DataError(f"An image in column '{image}' could not be decoded ({exc}).") from exc
        out = processor(images=images, return_tensors="pt")
        return {"pixel_values": out["pixel_values"], "labels": batch[label]}

    data.train = data.train.with_transform(transform)
    data.eval = data.eval.with_transform(transform)
    data.report = data.report.with_transform(transform)
    return data


def check_max_length(max_length: int, hf_config, task: str, source: str) -> None:
    """max_length beyond the model's position embeddings fails deep inside the forward pass
    (a tensor size error); say so before anything runs."""
    from finetune_core.model import max_tokens

    limit = max_tokens(hf_config, task)
    if limit is None:
        return
    if max_length > limit:
        raise DataError(
            f"max_length is {max_length} but model {source} reads at most {limit} tokens; "
            f"set max_length to {limit} or less."
        )
