"""Metrics whose size grows with the class count, kept bounded: 20,000 classes made the final
evaluation build a dense 20,000 x 20,000 confusion matrix (19 GB) and every evaluation during
training another. Per-class counts come from bincounts (linear in examples + classes); the
confusion matrix is dense only for the most frequent classes, the rest summed as "other".
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONFUSION_CLASSES = 50  # eval.json's matrix: every class up to here, else the top 49 + "other"
OTHER = "other"


def counts(labels: np.ndarray, preds: np.ndarray, n: int):
    """(true positives, predicted, actual) per class, without an n x n matrix."""
    labels, preds = np.asarray(labels).astype(int), np.asarray(preds).astype(int)
    tp = np.bincount(labels[labels == preds], minlength=n)[:n].astype(float)
    predicted = np.bincount(preds, minlength=n)[:n].astype(float)
    actual = np.bincount(labels, minlength=n)[:n].astype(float)
    return tp, predicted, actual


def top_classes(support, limit: int) -> list[int]:
    """The `limit` most frequent classes (ties: the lower index), in index order."""
    order = np.argsort(-np.asarray(support), kind="stable")[:limit]
    return sorted(int(i) for i in order)


def confusion(
    labels: np.ndarray, preds: np.ndarray, names: list[str], limit: int = CONFUSION_CLASSES
) -> dict[str, Any]:
    """The final evaluation's confusion matrix (rows = true label). Up to `limit` classes: all,
    rows and columns in label_names order. Beyond: the limit - 1 classes with the most
    evaluation examples plus "other", named in `confusion_labels`."""
    n = len(names)
    labels, preds = np.asarray(labels).astype(int), np.asarray(preds).astype(int)
    if n <= limit:
        matrix = np.zeros((n, n), dtype=np.int64)
        np.add.at(matrix, (labels, preds), 1)
        return {"confusion_matrix": matrix.tolist()}
    shown = top_classes(np.bincount(labels, minlength=n), limit - 1)
    slot = np.full(n, len(shown), dtype=np.int64)  # every other class goes to the last slot
    slot[shown] = np.arange(len(shown))
    matrix = np.zeros((len(shown) + 1, len(shown) + 1), dtype=np.int64)
    np.add.at(matrix, (slot[labels], slot[preds]), 1)
    other = f"{OTHER} ({n - len(shown):,} classes)"
    return {
        "confusion_matrix": matrix.tolist(),
        "confusion_labels": [names[i] for i in shown] + [other],
    }
