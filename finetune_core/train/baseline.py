"""The quick classical baseline fitted beside every run: the yardstick a practitioner reaches
for first, on the same rows, so a fine-tune that loses to it says so.

- text: TF-IDF of words and word pairs + logistic regression (scikit-learn), seconds on a CPU;
- images: logistic regression on 16 x 16 grayscale thumbnails.

Fitted on the run's training rows, scored on its report split. Multi-label: one logistic
regression per label, its thresholds tuned on the selection split as the model's are
(train/thresholds.py). At most MAX_ROWS training rows are used, so a huge dataset costs
seconds too; eval.json `baseline` says how many.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from finetune_core.train import evaluation, multilabel_metrics, thresholds

MAX_ROWS = 50_000
MARGIN = 0.005
THUMBNAIL = 16
TEXT_NAME = "TF-IDF + logistic regression"
IMAGE_NAME = "logistic regression on 16x16 grayscale thumbnails"


def _thumbnails(images) -> np.ndarray:
    rows = []
    for image in images:
        small = image.convert("L").resize((THUMBNAIL, THUMBNAIL))
        rows.append(np.asarray(small, dtype=np.float32).ravel() / 255.0)
    return np.stack(rows) if rows else np.zeros((0, THUMBNAIL * THUMBNAIL), dtype=np.float32)


def _features(task: str, train: list, others: list[list]):
    """(train matrix, other matrices) for text (TF-IDF fitted on train only) or images."""
    if task == "image":
        return _thumbnails(train), [_thumbnails(o) for o in others]
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=200_000)
    return vectorizer.fit_transform(train), [vectorizer.transform(o) for o in others]


def fit(
    task: str,
    train: tuple[list, list],
    select: tuple[list, list],
    report: tuple[list, list],
    *,
    num_labels: int,
    multi_label: bool,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit on train (inputs, labels), score on report: eval.json's `baseline`. Labels are
    class indices, or multi-hot rows for multi-label."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.monotonic()
    inputs, labels = train[0][:MAX_ROWS], np.asarray(train[1][:MAX_ROWS])
    x, (x_select, x_report) = _features(task, inputs, [select[0], report[0]])
    model = LogisticRegression(C=10.0, max_iter=1000, random_state=seed)
    with warnings.catch_warnings():  # a few iterations short of convergence is still a baseline
        warnings.simplefilter("ignore")
        if multi_label:
            y = labels > 0.5
            present = y.any(0) & ~y.all(0)  # a label never (or always) on: a constant
            clf = OneVsRestClassifier(model).fit(x, y[:, present])
            result = _multi(clf, present, x_select, select[1], x_report, report[1])
        else:
            clf = model.fit(x, labels)
            result = _single(clf, num_labels, x_report, report[1])
    name = IMAGE_NAME if task == "image" else TEXT_NAME
    seconds = round(time.monotonic() - started, 2)
    return {"name": name, **result, "seconds": seconds, "train_rows": len(inputs)}


def _single(clf, num_labels: int, x_report, y_report) -> dict[str, float]:
    proba = np.zeros((x_report.shape[0], num_labels))
    proba[:, clf.classes_] = clf.predict_proba(x_report)
    result = evaluation.scores(np.asarray(y_report), proba.argmax(-1), num_labels)
    return {"accuracy": result["accuracy"], "f1_macro": result["f1_macro"]}


def _multi(clf, present, x_select, y_select, x_report, y_report) -> dict[str, float]:
    def probs(x) -> np.ndarray:
        out = np.zeros((x.shape[0], len(present)))
        out[:, present] = clf.predict_proba(x)
        return out

    cuts = thresholds.tune(probs(x_select), np.asarray(y_select))
    result = multilabel_metrics.scores(np.asarray(y_report), probs(x_report) > np.asarray(cuts))
    return {
        "accuracy": result["accuracy"],
        "f1_macro": result["f1_macro"],
        "f1_micro": result["f1_micro"],
    }


def verdict(model: dict[str, Any], baseline: dict[str, Any]) -> str | None:
    """A sentence when the baseline beats the model on a headline metric (by more than
    MARGIN: two perfect scores are a tie, not a warning)."""
    keys = ["f1_macro", "f1_micro"] if "f1_micro" in baseline else ["f1_macro"]
    lost = [k for k in keys if baseline.get(k, 0.0) > model.get(k, 0.0) + MARGIN]
    if not lost:
        return None
    words = {"f1_macro": "macro F1", "f1_micro": "micro F1"}
    shown = "; ".join(
        f"{words[k]} {baseline[k]:.3f} against the model's {model.get(k, 0.0):.3f}" for k in lost
    )
    return (
        f"The quick baseline ({baseline['name']}, {baseline['seconds']:.0f} s) scores higher on "
        f"the same rows ({shown}): try training more layers (freeze), more epochs or a larger "
        "time_budget, or use the baseline."
    )
