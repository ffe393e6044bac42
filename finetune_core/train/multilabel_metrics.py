"""Multi-label metrics from logits: a class is predicted when its sigmoid is above the
threshold. accuracy is the exact match of the whole label set; micro F1 pools every decision,
macro F1 averages the classes; per-class counts replace the confusion matrix (which has no
meaning when an example has several true classes). numpy only, like evaluation.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from finetune_core.train.thresholds import tune


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray):
    precision = np.divide(tp, tp + fp, out=np.zeros(tp.shape), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(tp.shape), where=(tp + fn) > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(tp.shape), where=denom > 0)
    return precision, recall, f1


def scores(labels: np.ndarray, preds: np.ndarray) -> dict[str, Any]:
    """labels, preds: (examples, classes) arrays of 0/1."""
    y, p = np.asarray(labels) > 0.5, np.asarray(preds) > 0.5
    tp = (y & p).sum(0).astype(float)
    fp = (~y & p).sum(0).astype(float)
    fn = (y & ~p).sum(0).astype(float)
    tn = (~y & ~p).sum(0).astype(float)
    precision, recall, f1 = _f1(tp, fp, fn)
    _, _, micro = _f1(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    return {
        "accuracy": float((y == p).all(1).mean()) if len(y) else 0.0,
        "f1_micro": float(micro[0]),
        "f1_macro": float(f1.mean()) if f1.size else 0.0,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": tp.astype(int) + fn.astype(int),
        "counts": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def compute_metrics_for(threshold: float | None):
    """The Trainer's compute_metrics for multi-label runs (eval_accuracy, eval_f1_micro, ...).
    threshold None: the cuts are tuned on these (selection-split) predictions, as the final
    model's will be, so keep_best compares models as they will predict."""

    def compute(eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        probs = sigmoid(logits)
        cuts = threshold if threshold is not None else tune(probs, eval_pred.label_ids)
        preds = probs > np.asarray(cuts)
        result = scores(eval_pred.label_ids, preds)
        sets = Counter(map(bytes, np.packbits(preds, axis=1)))
        return {
            "accuracy": result["accuracy"],
            "f1_macro": result["f1_macro"],
            "f1_micro": result["f1_micro"],
            "predicted_classes": len(sets),  # distinct label sets: 1 = the same for everyone
        }

    return compute


def majority(labels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Always answering the most frequent label set: its exact-match accuracy, its macro F1."""
    y = np.asarray(labels) > 0.5
    if not len(y):
        return 0.0, 0.0, np.zeros(y.shape[-1], dtype=bool)
    rows = Counter(map(bytes, np.packbits(y, axis=1)))  # 1 bit a class, not a Python bool
    top = np.unpackbits(np.frombuffer(rows.most_common(1)[0][0], np.uint8))[: y.shape[1]] > 0
    constant = np.tile(top, (len(y), 1))
    return float((y == constant).all(1).mean()), scores(y, constant)["f1_macro"], top


def report(
    logits: np.ndarray,
    labels: np.ndarray,
    label_names: list[str],
    *,
    threshold: float | list[float] = 0.5,
    examples: list[Any] | None = None,
) -> dict[str, Any]:
    """eval.json for a multi-label run; threshold: one cut, or one per label."""
    probs = sigmoid(logits)
    cuts = np.broadcast_to(np.asarray(threshold, dtype=float), (len(label_names),))
    preds = probs > cuts
    result = scores(labels, preds)
    counts = result["counts"]
    per_class = {
        name: {
            "precision": result["precision"][i],
            "recall": result["recall"][i],
            "f1": result["f1"][i],
            "support": int(result["support"][i]),
            **{k: int(v[i]) for k, v in counts.items()},
        }
        for i, name in enumerate(label_names)
    }
    baseline, baseline_f1, top = majority(labels)
    return {
        "problem_type": "multi_label",
        "accuracy": result["accuracy"],
        "f1_micro": result["f1_micro"],
        "f1_macro": result["f1_macro"],
        "threshold": float(np.median(cuts)),
        "thresholds": {n: float(c) for n, c in zip(label_names, cuts, strict=True)},
        "labels_per_row": {
            "true": float(np.asarray(labels).sum(1).mean()) if len(labels) else 0.0,
            "predicted": float(preds.sum(1).mean()) if len(preds) else 0.0,
            "rows_without_prediction": float((preds.sum(1) == 0).mean()) if len(preds) else 0.0,
        },
        "majority_baseline": baseline,
        "majority_f1_macro": baseline_f1,
        "majority_class": ", ".join(n for n, on in zip(label_names, top, strict=True) if on)
        or "no label",
        "num_examples": len(labels),
        "per_class": per_class,
        "label_names": list(label_names),
    }
