"""Datasets: load from the Hub or local files/folders and summarise them (detect.py picks
the column roles and labels; prepare.py readies the data for a run)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_core.data import diagnose, labels, multilabel
from finetune_core.data.detect import (  # also imported from here by the hub's cards
    Columns,
    detect_columns,
    feature_kind,
)
from finetune_core.errors import DataError, FinetuneError
from finetune_core.host.paths import is_local

DATA_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}


@dataclass
class DatasetSummary:
    """What `finetune inspect DATASET` prints and the dashboard's dataset card shows."""

    source: str
    splits: dict[str, int]
    features: dict[str, str]
    columns: Columns
    label_names: list[str]
    class_counts: dict[str, int] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)
    thumbnails: list[tuple[Any, str]] = field(default_factory=list)  # (small PIL image, label)
    warnings: list[str] = field(default_factory=list)  # e.g. unusable images skipped
    problem_type: str = "single_label"  # multi_label: lists, or labels joined by a delimiter
    label_delimiter: str | None = None  # what joins the labels of one cell, when it is text
    label_note: str | None = None  # how the label column was read, when there was a question

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.source,
            "splits": self.splits,
            "features": self.features,
            "text_column": self.columns.text,
            "image_column": self.columns.image,
            "label_column": self.columns.label,
            "task": self.columns.task,
            "num_labels": len(self.label_names),
            "label_names": self.label_names,
            "class_counts": self.class_counts,
            "warnings": self.warnings,
            "problem_type": self.problem_type,
            "label_delimiter": self.label_delimiter,
            "label_note": self.label_note,
        }


# ---- loading ------------------------------------------------------------------------
SUFFIX_LIST = ".csv, .tsv, .json, .jsonl or .parquet"


@dataclass
class Loaded:
    """A loaded DatasetDict and sentences about what was left out of it (bad images)."""

    ds: Any
    warnings: list[str] = field(default_factory=list)


def load_raw(source: str, config: str | None = None, token: str | None = None):
    """Load every split of a dataset as a DatasetDict, with errors turned into one sentence."""
    return load_checked(source, config, token).ds


def load_checked(source: str, config: str | None = None, token: str | None = None) -> Loaded:
    """load_raw, plus the warnings: unusable images skipped, each named."""
    import datasets

    from finetune_core.data import images

    source = str(source).strip()
    if not source:
        raise DataError("No dataset given; enter a Hub dataset id, a data file or a folder.")
    try:
        if is_local(source):
            ds = _load_local(source, config)
        else:
            ds = _load(source, source, name=config, token=diagnose.check_hub_dataset(source, token))
    except DataError:
        raise
    except Exception as exc:  # the datasets library raises many kinds; name them for people
        local = diagnose.local_problem(source) if is_local(source) else None
        raise (DataError(local) if local else load_error(source, exc)) from exc
    if not isinstance(ds, datasets.DatasetDict):
        ds = datasets.DatasetDict({"train": ds})
    ds = _bounded(ds, source)
    warnings = diagnose.file_warnings(source, ds) if is_local(source) else []
    if is_local(source) and Path(source).expanduser().is_dir():
        ds, warnings = images.drop_unusable(ds)
    return Loaded(ds, warnings)


def _load_local(source: str, config: str | None):
    from finetune_core.host import paths

    paths.check_source(source)  # hosted: only uploads, the assets and allowed folders
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"Dataset path {source} does not exist; check the path.")
    if path.is_dir():
        diagnose.check_readme(path)
        return _load(source, str(path), name=config)
    builder = DATA_SUFFIXES.get(path.suffix.lower())
    if builder is None:
        raise DataError(f"{path.name} is not a supported data file; use {SUFFIX_LIST}.")
    if config:
        raise DataError(
            f"dataset_config '{config}' only applies to Hub datasets and folders; {path.name} "
            "is a single file, so leave dataset_config empty."
        )
    kwargs: dict[str, Any] = {}
    if path.suffix.lower() == ".tsv":
        # tab-separated files are written without quoting: a stray `"` in a message would
        # otherwise open a quoted cell that swallows the following lines without a word
        kwargs.update(delimiter="\t", quoting=csv.QUOTE_NONE)
    elif builder == "csv" and (sep := diagnose.delimiter(path)) != ",":
        kwargs.update(delimiter=sep)
    ds = _load(source, builder, data_files={"train": str(path)}, **kwargs)
    diagnose.check_rows(path, ds["train"])  # no row lost or merged without a word
    return ds


def load_error(source: str, exc: Exception) -> FinetuneError:
    """The typed error for a failed dataset load: a Hub failure as hub/net.py translates it
    (missing, gated, unreachable...), else a DataError saying what is wrong with the data."""
    from finetune_core.hub.net import translate  # lazy: hub/ imports this module

    return translate(exc, "dataset", source) or DataError(describe_load_error(source, exc))


def _load(source: str, path: str, **kwargs):
    """datasets.load_dataset, with every file it resolves to checked before it is parsed: the
    path policy (hosted) and the bounds (data/bounds.py: nesting, columns)."""
    import logging

    import datasets
    from datasets.utils.info_utils import is_small_dataset

    from finetune_core.data import bounds
    from finetune_core.host import paths

    # datasets logs its own error line before raising; the one sentence comes from here
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:  # load_dataset's own three steps, with the checks between the first two
        builder = datasets.load_dataset_builder(path, **kwargs)
        paths.check_data_files(source, builder.config.data_files)
        sep = kwargs.get("delimiter", ",")
        bounds.check_files(source, builder.config.data_files, kwargs.get("token"), sep)
        builder.download_and_prepare()
        return builder.as_dataset(in_memory=is_small_dataset(builder.info.dataset_size))
    finally:
        logger.setLevel(level)


def _bounded(ds, source: str):
    """A loaded dataset within the bounds: columns, and rows that name files (data/media.py)."""
    from finetune_core.data import bounds, media

    for split in ds.values():
        bounds.check_features(split.features, Path(source).name or source)
    return media.guard(ds, source)


def describe_load_error(source: str, exc: Exception) -> str:
    """One sentence for a dataset that cannot be read."""
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:  # datasets wraps the cause
        root = root.__cause__ or root.__context__
    if root is not exc and not isinstance(root, OSError | ConnectionError):
        exc = root
    name = type(exc).__name__
    text = str(exc)
    if isinstance(root, RecursionError) or "too deeply nested" in f"{text} {root}":
        return (
            f"Dataset {source} nests its values too deeply to be read; this dashboard reads "
            "flat records (one object per row with plain values or short lists)."
        )
    empty = re.search(r'Instruction "([^"]+)" corresponds to no data', text)
    if empty:  # datasets' words for a split whose files hold no rows
        return (
            f"Split '{empty.group(1)}' of dataset {source} is empty (no rows); add rows to "
            "its file or remove the file."
        )
    if (
        isinstance(exc, UnicodeDecodeError)
        or "codec can't decode" in text
        or "Invalid UTF8" in text
    ):
        return f"Dataset {source} is not UTF-8 text; save it as UTF-8 and try again."
    if "config" in text.lower() and ("available" in text.lower() or "name" in text.lower()):
        first = text.strip().splitlines()[0][:300]
        return f"Dataset {source}: {first}"
    if "Error tokenizing data" in text or "ParserError" in name or "expected" in text.lower():
        first = text.strip().splitlines()[-1][:200]
        return f"Dataset {source} has a malformed row ({first}); fix the file and try again."
    if "offline" in text.lower() or "connect" in text.lower():
        return f"Dataset {source} could not be downloaded: the Hub is unreachable ({name})."
    first = text.strip().splitlines()[0][:300] if text.strip() else name
    return f"Dataset {source} could not be loaded: {first}"


def summarize(
    source: str, config: str | None = None, token: str | None = None, preview_rows: int = 5
) -> DatasetSummary:
    """Splits, features, detected roles and labels of a dataset (for `finetune inspect`)."""
    loaded = load_checked(source, config, token)
    ds = loaded.ds
    first_name = "train" if "train" in ds else next(iter(ds))
    first = ds[first_name]
    cols = detect_columns(first)
    found = labels.survey(ds, cols.label, split=first_name) if cols.label else None
    preview = [
        {
            k: (v if not hasattr(v, "size") else f"<image {v.size[0]}x{v.size[1]}>")
            for k, v in row.items()
        }
        for row in first.select(range(min(preview_rows, len(first))))
    ]
    sample = first.shuffle(seed=0).select(range(min(8, len(first)))) if cols.image else []
    return DatasetSummary(
        source=source,
        splits={name: len(split) for name, split in ds.items()},
        features={name: feature_kind(f) for name, f in first.features.items()},
        columns=cols,
        label_names=found.names if found else [],
        class_counts=found.counts if found else {},
        problem_type=found.reading.problem_type if found else multilabel.SINGLE,
        label_delimiter=found.reading.delimiter if found else None,
        label_note=found.note if found else None,
        preview=preview,
        thumbnails=thumbnails(sample, cols, found.names if found else []),
        warnings=loaded.warnings + (found.warnings if found else []),
    )


def thumbnails(
    rows, cols: Columns, names: list[str] | None = None, size: int = 96
) -> list[tuple[Any, str]]:
    """Small copies of the first images with their class, for the dataset card's gallery."""
    out = []
    for row in rows:
        image = row.get(cols.image) if cols.image else None
        if not hasattr(image, "thumbnail"):
            continue
        try:
            small = image.convert("RGB")
            small.thumbnail((size, size))
        except (OSError, ValueError):  # a broken image: the card shows the others
            continue
        label = row.get(cols.label) if cols.label else ""
        if names and isinstance(label, int) and 0 <= label < len(names):
            label = names[label]
        out.append((small, str(label)))
    return out
