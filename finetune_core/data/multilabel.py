"""Multi-label data: a label column whose cells are lists (of strings, ints or class labels),
or strings that join labels (data/labels.py decides, and names the classes).

Encoded as multi-hot float vectors in "labels", which is what transformers' models with
`problem_type="multi_label_classification"` train on with a sigmoid and binary cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MULTI, SINGLE = "multi_label", "single_label"


def inner(feature: Any) -> Any | None:
    """The element feature of a list-valued column (List, Sequence, LargeList), else None."""
    element = getattr(feature, "feature", None)
    if element is None or isinstance(element, dict):
        return None
    return element


def is_label_list(feature: Any) -> bool:
    """A column of lists of strings, ints or class labels: a multi-label label column."""
    import datasets

    element = inner(feature)
    if isinstance(element, datasets.ClassLabel):
        return True
    return isinstance(element, datasets.Value) and (
        "string" in element.dtype or element.dtype.startswith(("int", "uint"))
    )


def encode(ds, label: str, names: list[str], labels_of: Callable[[Any], list[str]]):
    """Multi-hot float vectors in the label column, the same classes in every split;
    `labels_of` gives a cell's class names (data/labels.py: lists, or joined strings split)."""
    import datasets

    index = {name: i for i, name in enumerate(names)}
    first = next(iter(ds.values()))

    def to_hot(batch: dict) -> dict:
        rows = []
        for cell in batch[label]:
            hot = [0.0] * len(names)
            for name in labels_of(cell):
                hot[index[name]] = 1.0
            rows.append(hot)
        return {label: rows}

    features = first.features.copy()
    features[label] = datasets.List(datasets.Value("float32"))
    return ds.map(to_hot, batched=True, features=features, desc="Encoding labels")
