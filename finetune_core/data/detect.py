"""Column roles of a dataset: which column is the text, the image and the label, and a short
name for each feature's type (load.py reads the data).

Detection rules (documented in the README): a ClassLabel column is the label; else a column
named like a label, else a string/int column with few distinct values. An Image column makes
the task image classification; else the longest-text string column is the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finetune_core.data.multilabel import is_label_list
from finetune_core.errors import DataError

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
MAX_CLASSES_GUESSED = 200


@dataclass
class Columns:
    """Which columns play which role."""

    text: str | None
    image: str | None
    label: str | None

    @property
    def task(self) -> str:
        """THE text-or-image decision for data (cards and preflight ask it too)."""
        return "image" if self.image else "text"


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
    if label is not None and label in (text, image):
        raise DataError(
            f"Column '{label}' cannot be both the label column and the "
            f"{'text' if label == text else 'image'} column; pick another for one of them."
        )
    if image is None and text is None:
        image = next((c for c, k in kinds.items() if k == "image"), None)
    head = _Head(split)
    if label is None:
        label = _guess_label(split, kinds, exclude={text, image}, head=head)
    if image is None and text is None:
        candidates = [c for c, k in kinds.items() if k == "string" and c != label]
        if candidates:
            text = max(candidates, key=lambda c: _mean_len(head.values(c, 200)))
    return Columns(text=text, image=image, label=label)


class _Head:
    """The first rows of a split, read from Arrow once and one column at a time. Asking the
    Dataset for a column (`split[col]`) copies every column's feature, so detection over n
    columns cost n^2 (a 26 kB CSV of 2,000 columns took 79 s); this is linear."""

    ROWS = 2000

    def __init__(self, split) -> None:
        self.split = split
        self._table = None

    def values(self, column: str, rows: int = ROWS) -> list:
        if self._table is None:
            self._table = self.split.with_format("arrow")[: min(len(self.split), self.ROWS)]
        return self._table.column(column).slice(0, rows).to_pylist()


def _guess_label(split, kinds: dict[str, str], exclude: set, head: _Head | None = None):
    head = head or _Head(split)
    features = split.features  # one copy: each access copies every column's feature
    for col, kind in kinds.items():
        if kind == "class_label" and col not in exclude:
            return col
    named = [c for c in kinds if c.lower() in LABEL_NAMES and c not in exclude]
    for col in named:
        if kinds[col] in ("string", "int", "bool") or is_label_list(features[col]):
            return col
        if kinds[col] == "float" and _whole_numbers(head.values(col)):
            return col  # 0.0/1.0 written by pandas or a spreadsheet
    best = None
    for col, kind in kinds.items():
        if col in exclude or kind not in ("string", "int", "bool"):
            continue
        values = [v for v in head.values(col) if v is not None]
        distinct = len(set(values))
        if 2 <= distinct <= min(MAX_CLASSES_GUESSED, max(2, len(values) // 2)):
            if kind == "string" and _mean_len(values) > 40:
                continue  # long strings are text, not labels
            if best is None or distinct < best[1]:
                best = (col, distinct)
    return best[0] if best else None


def _whole_numbers(values: list) -> bool:
    values = [v for v in values if v is not None]
    return bool(values) and all(float(v).is_integer() for v in values)


def _mean_len(values: list) -> float:
    values = [v for v in values if isinstance(v, str)]
    return sum(map(len, values)) / len(values) if values else 0.0
