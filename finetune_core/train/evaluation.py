"""Classification metrics computed from logits: accuracy, macro F1, per-class scores and the
confusion matrix (rows = true label). numpy only, so the numbers are easy to audit."""

from __future__ import annotations

from typing import Any

import numpy as np

from finetune_core.train import class_bounds


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def scores(labels: np.ndarray, preds: np.ndarray, n: int) -> dict[str, Any]:
    """Accuracy, macro F1 and per-class precision/recall/F1 (0 where undefined)."""
    tp, predicted, actual = class_bounds.counts(labels, preds, n)  # no n x n matrix
    precision = np.divide(tp, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(n), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    total = actual.sum()
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "f1_macro": float(f1.mean()) if n else 0.0,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": actual.astype(int).tolist(),
    }


def compute_metrics(eval_pred) -> dict[str, float]:
    """For the Trainer's evaluation loop: logged as eval_accuracy and eval_f1_macro, plus how
    many classes were predicted at all and the most predicted one (training health reads them:
    one class for every example is a collapsed model)."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    n = logits.shape[-1]
    preds = np.asarray(logits).argmax(-1)
    result = scores(np.asarray(labels), preds, n)
    counts = np.bincount(preds.astype(int), minlength=n)
    return {
        "accuracy": result["accuracy"],
        "f1_macro": result["f1_macro"],
        "predicted_classes": int((counts > 0).sum()),
        "top_class": int(counts.argmax()) if n else 0,
    }


def majority(support: list[int]) -> tuple[float, int]:
    """Accuracy of always predicting the most frequent class, and that class's index."""
    total = sum(support)
    top = int(np.argmax(support)) if support else 0
    return (support[top] / total if total else 0.0), top


def majority_f1_macro(share: float, num_classes: int) -> float:
    """Macro F1 of always predicting the most frequent class (share p of the examples): that
    class scores 2p / (1 + p), every other class 0."""
    return 2 * share / (1 + share) / num_classes if num_classes else 0.0


def report(
    logits: np.ndarray,
    labels: np.ndarray,
    label_names: list[str],
    *,
    examples: list[Any] | None = None,
    worst: int = 20,
) -> dict[str, Any]:
    """eval.json: overall and per-class metrics, confusion matrix, most confidently wrong."""
    n = len(label_names)
    probs = softmax(np.asarray(logits, dtype=np.float64))
    preds = probs.argmax(-1)
    result = scores(np.asarray(labels), preds, n)
    per_class = {
        name: {
            "precision": result["precision"][i],
            "recall": result["recall"][i],
            "f1": result["f1"][i],
            "support": result["support"][i],
        }
        for i, name in enumerate(label_names)
    }
    wrong = np.flatnonzero(preds != labels)
    conf = probs[wrong, preds[wrong]] if len(wrong) else np.array([])
    order = wrong[np.argsort(-conf)][:worst] if len(wrong) else []
    mistakes = [
        {
            "index": int(i),
            "input": examples[i] if examples is not None else None,
            "true": label_names[int(labels[i])],
            "predicted": label_names[int(preds[i])],
            "confidence": float(probs[i, preds[i]]),
        }
        for i in order
    ]
    baseline, top = majority(result["support"])
    return {
        "accuracy": result["accuracy"],
        "f1_macro": result["f1_macro"],
        "majority_baseline": baseline,
        "majority_f1_macro": majority_f1_macro(baseline, n),
        "majority_class": label_names[top] if label_names else None,
        "num_examples": len(labels),
        "per_class": per_class,
        **class_bounds.confusion(labels, preds, label_names),  # bounded for many classes
        "label_names": list(label_names),
        "most_confident_mistakes": mistakes,
    }
