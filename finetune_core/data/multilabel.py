"""Multi-label data: a label column whose cells are lists (of strings, ints or class labels).

Encoded as multi-hot float vectors in "labels", which is what transformers' models with
`problem_type="multi_label_classification"` train on with a sigmoid and binary cross-entropy.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from finetune_core.errors import DataError

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


def resolve(problem_type: str, feature: Any, label: str) -> str:
    """multi_label or single_label for the config's problem_type and the label column."""
    lists = is_label_list(feature)
    if problem_type == SINGLE and lists:
        raise DataError(
            f"Label column '{label}' holds lists of labels but problem_type is single_label; "
            "set problem_type to multi_label (or auto)."
        )
    if problem_type == MULTI or lists:
        return MULTI
    return SINGLE


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _to_names(feature: Any):
    import datasets

    element = inner(feature)
    if isinstance(element, datasets.ClassLabel):
        return element.int2str
    if isinstance(feature, datasets.ClassLabel):
        return feature.int2str
    return str


def names_of(ds, label: str) -> list[str]:
    """Every label that occurs in any split (sorted; ints numerically)."""
    import datasets

    first = next(iter(ds.values()))
    element = inner(first.features[label])
    if isinstance(element, datasets.ClassLabel):
        return list(element.names)
    values: set = set()
    for split in ds.values():
        for cell in split[label]:
            values.update(v for v in _as_list(cell) if v is not None)
    try:
        ordered = sorted(values)
    except TypeError:
        ordered = sorted(values, key=str)
    return [str(v) for v in ordered]


def counts(split, label: str) -> dict[str, int]:
    """How many rows carry each label (a row counts once for each of its labels)."""
    to_name = _to_names(split.features[label])
    found = Counter(to_name(v) for cell in split[label] for v in _as_list(cell) if v is not None)
    return dict(found)


def encode(ds, label: str):
    """Multi-hot float vectors in the label column, the same classes in every split."""
    import datasets

    names = names_of(ds, label)
    index = {name: i for i, name in enumerate(names)}
    first = next(iter(ds.values()))
    to_name = _to_names(first.features[label])

    def to_hot(batch: dict) -> dict:
        rows = []
        for cell in batch[label]:
            hot = [0.0] * len(names)
            for v in _as_list(cell):
                if v is not None:
                    hot[index[str(to_name(v))]] = 1.0
            rows.append(hot)
        return {label: rows}

    features = first.features.copy()
    features[label] = datasets.List(datasets.Value("float32"))
    return ds.map(to_hot, batched=True, features=features, desc="Encoding labels"), names
