"""Datasets: load from the Hub or local files/folders, detect column roles, encode labels,
make the evaluation split and preprocess for a text or image model.

Detection rules (documented in the README): a ClassLabel column is the label; else a column
named like a label, else a string/int column with few distinct values. An Image column makes
the task image classification; else the longest-text string column is the text.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_core.errors import DataError

DATA_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
LABEL_NAMES = (
    "label",
    "labels",
    "class",
    "classes",
    "target",
    "category",
    "y",
    "sentiment",
    "intent",
)
TEXT_NAMES = ("text", "sentence", "content", "review", "document", "body", "question", "input")
EVAL_SPLIT_NAMES = ("validation", "valid", "val", "dev", "test", "eval")
MAX_CLASSES_GUESSED = 200


@dataclass
class Columns:
    """Which columns play which role."""

    text: str | None
    image: str | None
    label: str | None

    @property
    def task(self) -> str:
        return "image" if self.image else "text"


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
        }


# ---- loading ------------------------------------------------------------------------
def is_local(source: str) -> bool:
    return Path(source).expanduser().exists() or source.startswith(("/", "./", "../", "~"))


def load_raw(source: str, config: str | None = None, token: str | None = None):
    """Load every split of a dataset as a DatasetDict, with errors turned into one sentence."""
    import datasets

    source = str(source).strip()
    if not source:
        raise DataError("No dataset given; enter a Hub dataset id, a data file or a folder.")
    kwargs: dict[str, Any] = {}
    try:
        if is_local(source):
            path = Path(source).expanduser()
            if not path.exists():
                raise DataError(f"Dataset path {source} does not exist; check the path.")
            if path.is_file():
                builder = DATA_SUFFIXES.get(path.suffix.lower())
                if builder is None:
                    raise DataError(
                        f"{path.name} is not a supported data file; use .csv, .json, "
                        ".jsonl or .parquet."
                    )
                if path.suffix.lower() == ".tsv":
                    kwargs["delimiter"] = "\t"
                ds = datasets.load_dataset(builder, data_files={"train": str(path)}, **kwargs)
            else:
                ds = datasets.load_dataset(str(path))
        else:
            ds = datasets.load_dataset(source, name=config, token=token or None)
    except DataError:
        raise
    except Exception as exc:  # the datasets library raises many kinds; name them for people
        raise DataError(describe_load_error(source, exc)) from exc
    if not isinstance(ds, datasets.DatasetDict):
        ds = datasets.DatasetDict({"train": ds})
    return ds


def describe_load_error(source: str, exc: Exception) -> str:
    """One sentence for a failed dataset load."""
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:  # datasets wraps the cause
        root = root.__cause__ or root.__context__
    if root is not exc and not isinstance(root, OSError | ConnectionError):
        exc = root
    name = type(exc).__name__
    text = str(exc)
    empty = re.search(r'Instruction "([^"]+)" corresponds to no data', text)
    if empty:  # datasets' words for a split whose files hold no rows
        return (
            f"Split '{empty.group(1)}' of dataset {source} is empty (no rows); add rows to "
            "its file or remove the file."
        )
    if "Gated" in name or "gated" in text.lower():
        return (
            f"Dataset {source} is gated; request access on its Hub page and log in "
            "(or set HF_TOKEN) before using it."
        )
    if "NotFound" in name or "doesn't exist" in text or "not found" in text.lower():
        return f"Dataset {source} was not found on the Hub; check the id (owner/name)."
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


# ---- detection ----------------------------------------------------------------------
def feature_kind(feature: Any) -> str:
    """A short name for a datasets feature: string, int, float, image, class_label, ..."""
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        return "class_label"
    if isinstance(feature, datasets.Image):
        return "image"
    if isinstance(feature, datasets.Value):
        dtype = feature.dtype
        if "string" in dtype:
            return "string"
        if dtype.startswith(("int", "uint")):
            return "int"
        if dtype.startswith("float"):
            return "float"
        if dtype == "bool":
            return "bool"
        return dtype
    return type(feature).__name__.lower()


def detect_columns(
    split,
    *,
    text: str | None = None,
    image: str | None = None,
    label: str | None = None,
) -> Columns:
    """Pick text/image/label columns; given names are checked, missing ones are detected."""
    features = split.features
    kinds = {name: feature_kind(f) for name, f in features.items()}
    for role, name in (("text", text), ("image", image), ("label", label)):
        if name is not None and name not in features:
            raise DataError(
                f"{role}_column '{name}' is not in the dataset; its columns are "
                f"{', '.join(features)}."
            )
    if image is None and text is None:
        image = next((c for c, k in kinds.items() if k == "image"), None)
    if label is None:
        label = _guess_label(split, kinds, exclude={text, image})
    if image is None and text is None:
        candidates = [c for c, k in kinds.items() if k == "string" and c != label]
        if candidates:
            sample = split.select(range(min(len(split), 200)))
            text = max(candidates, key=lambda c: _mean_len(sample[c]))
    return Columns(text=text, image=image, label=label)


def _guess_label(split, kinds: dict[str, str], exclude: set) -> str | None:
    for col, kind in kinds.items():
        if kind == "class_label" and col not in exclude:
            return col
    named = [c for c in kinds if c.lower() in LABEL_NAMES and c not in exclude]
    for col in named:
        if kinds[col] in ("string", "int", "bool"):
            return col
    sample = split.select(range(min(len(split), 2000)))
    best = None
    for col, kind in kinds.items():
        if col in exclude or kind not in ("string", "int", "bool"):
            continue
        values = [v for v in sample[col] if v is not None]
        distinct = len(set(values))
        if 2 <= distinct <= min(MAX_CLASSES_GUESSED, max(2, len(values) // 2)):
            if kind == "string" and _mean_len(values) > 40:
                continue  # long strings are text, not labels
            if best is None or distinct < best[1]:
                best = (col, distinct)
    return best[0] if best else None


def _mean_len(values: list) -> float:
    values = [v for v in values if isinstance(v, str)]
    return sum(map(len, values)) / len(values) if values else 0.0


def label_names_of(ds, label: str) -> list[str]:
    """Class names for the label column, over all splits (sorted; ints numerically)."""
    import datasets

    first = next(iter(ds.values()))
    feature = first.features[label]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    values: set = set()
    for split in ds.values():
        values.update(v for v in split.unique(label) if v is not None)
    return [str(v) for v in _sort_values(values)]


def _sort_values(values: set) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


# ---- preparation --------------------------------------------------------------------
@dataclass
class PreparedData:
    """Splits ready for the Trainer, plus what the run dir records about them."""

    train: Any
    eval: Any
    eval_raw: Any  # eval split before preprocessing, for showing examples
    columns: Columns
    label_names: list[str]
    eval_source: str  # "validation" (a split name) or "held out 10% of train"


def encode_labels(ds, label: str):
    """Make the label column a ClassLabel (strings and plain ints alike), same in all splits."""
    import datasets

    names = label_names_of(ds, label)
    first = next(iter(ds.values()))
    if isinstance(first.features[label], datasets.ClassLabel):
        return ds, names
    for split_name, split in ds.items():
        missing = sum(1 for v in split[label] if v is None)
        if missing:
            raise DataError(
                f"Label column '{label}' has {missing} empty value(s) in split "
                f"'{split_name}'; fill them in or drop those rows."
            )
    index = {name: i for i, name in enumerate(names)}
    class_label = datasets.ClassLabel(names=names)

    def to_index(batch: dict) -> dict:
        return {label: [index[str(v)] for v in batch[label]]}

    features = first.features.copy()
    features[label] = class_label
    ds = ds.map(to_index, batched=True, features=features, desc="Encoding labels")
    return ds, names


def prepare(cfg, *, token: str | None = None, ds=None) -> PreparedData:
    """Load (unless `ds` is given), detect, validate and split the data for `cfg`."""
    ds = ds if ds is not None else load_raw(cfg.dataset, cfg.dataset_config, token)
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
    ds, names = encode_labels(ds, cols.label)
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

    train, evals, source = _split_eval(ds, cfg, cols.label)
    if len(evals) == 0:
        raise DataError(f"The evaluation split '{source}' is empty; choose another eval_split.")
    if cfg.max_train_samples:
        train = train.shuffle(seed=cfg.seed).select(range(min(len(train), cfg.max_train_samples)))
    if cfg.max_eval_samples:
        evals = evals.shuffle(seed=cfg.seed).select(range(min(len(evals), cfg.max_eval_samples)))
    if cols.text:
        for name, split in (("train", train), ("evaluation", evals)):
            _check_text(split, cols.text, name)
    return PreparedData(train, evals, evals, cols, names, source)


def _split_eval(ds, cfg, label: str):
    if cfg.eval_split:
        return ds[cfg.train_split], ds[cfg.eval_split], cfg.eval_split
    for name in EVAL_SPLIT_NAMES:
        if name in ds and name != cfg.train_split and len(ds[name]) > 0:
            return ds[cfg.train_split], ds[name], name
    train = ds[cfg.train_split]
    if len(train) < 4:
        raise DataError(
            f"Split '{cfg.train_split}' has only {len(train)} rows; at least 4 are needed "
            "to hold some out for evaluation."
        )
    counts = Counter(train[label])
    stratify = label if min(counts.values()) >= 2 else None
    try:
        parts = train.train_test_split(
            test_size=cfg.validation_fraction, seed=cfg.seed, stratify_by_column=stratify
        )
    except ValueError:  # too few rows per class for a stratified split
        parts = train.train_test_split(test_size=cfg.validation_fraction, seed=cfg.seed)
    pct = f"{cfg.validation_fraction:.0%}"
    return parts["train"], parts["test"], f"held out {pct} of {cfg.train_split}"


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
        drop = [c for c in split.column_names if c != "cache_index"]
        return split.map(encode, batched=True, remove_columns=drop, desc=f"Tokenizing {name}")

    data.train = run(data.train, "train")
    data.eval = run(data.eval, "eval")
    return data


def attach_image_transform(data: PreparedData, processor) -> PreparedData:
    """Apply the image processor on the fly (no decoded copy of the dataset on disk)."""
    image, label = data.columns.image, data.columns.label

    def transform(batch: dict) -> dict:
        try:
            images = [img.convert("RGB") for img in batch[image]]
        except Exception as exc:
            raise DataError(f"An image in column '{image}' could not be decoded ({exc}).") from exc
        out = processor(images=images, return_tensors="pt")
        result = {"pixel_values": out["pixel_values"], "labels": batch[label]}
        if "cache_index" in batch:
            result["cache_index"] = batch["cache_index"]
        return result

    data.train = data.train.with_transform(transform)
    data.eval = data.eval.with_transform(transform)
    return data


def summarize(
    source: str, config: str | None = None, token: str | None = None, preview_rows: int = 5
) -> DatasetSummary:
    """Splits, features, detected roles and labels of a dataset (for `finetune inspect`)."""
    ds = load_raw(source, config, token)
    first_name = "train" if "train" in ds else next(iter(ds))
    first = ds[first_name]
    cols = detect_columns(first)
    names: list[str] = []
    counts: dict[str, int] = {}
    if cols.label:
        names = label_names_of(ds, cols.label)
        raw = Counter(first[cols.label])
        feature = first.features[cols.label]
        to_name = feature.int2str if feature_kind(feature) == "class_label" else str
        counts = {to_name(k): v for k, v in raw.items() if k is not None}
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
        label_names=names,
        class_counts=counts,
        preview=preview,
        thumbnails=thumbnails(sample, cols, names),
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
        small = image.convert("RGB")
        small.thumbnail((size, size))
        label = row.get(cols.label) if cols.label else ""
        if names and isinstance(label, int) and 0 <= label < len(names):
            label = names[label]
        out.append((small, str(label)))
    return out


def offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
