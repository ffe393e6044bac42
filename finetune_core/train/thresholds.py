"""Multi-label decision thresholds, tuned on the selection split (never the reported one).

A sigmoid output of 0.5 is the right cut only for a calibrated model of a balanced label;
with 28 emotions of which a row carries one or two, 0.5 predicts almost nothing and a
weighted loss predicts almost everything. So each label gets the cut that maximises its own
F1 on the selection split, when that split holds at least MIN_POSITIVES rows with the label
(fewer: one F1 on three rows says little); the other labels share the cut that maximises
micro F1 over all of them. The thresholds go to model/config.json (`label_thresholds`), and
every place that predicts applies them (predict.py reads them back).
"""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.02, 0.99, 0.02), 2)
MIN_POSITIVES = 5


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(tp.shape, dtype=float), where=denom > 0)


def global_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """The one cut that maximises micro F1 over every label (the lowest of equal ones)."""
    y = np.asarray(labels) > 0.5
    scores = []
    for t in GRID:
        p = probs > t
        tp, fp, fn = (p & y).sum(), (p & ~y).sum(), (~p & y).sum()
        scores.append(float(_f1(np.array(tp), np.array(fp), np.array(fn))))
    return float(GRID[int(np.argmax(scores))])


def tune(probs: np.ndarray, labels: np.ndarray) -> list[float]:
    """One threshold per label: its own best-F1 cut with enough positives, else the global
    cut (see the module doc)."""
    probs, y = np.asarray(probs, dtype=float), np.asarray(labels) > 0.5
    shared = global_threshold(probs, y) if len(y) else 0.5
    # every label at every cut at once: (cuts, examples, labels) would be large, so per cut
    best = np.full(y.shape[1], -1.0)
    chosen = np.full(y.shape[1], shared)
    for t in GRID:
        p = probs > t
        f1 = _f1((p & y).sum(0), (p & ~y).sum(0), (~p & y).sum(0))
        better = f1 > best
        best[better], chosen[better] = f1[better], t
    enough = y.sum(0) >= MIN_POSITIVES
    return [float(c) if ok else shared for c, ok in zip(chosen, enough, strict=True)]
