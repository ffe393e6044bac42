"""class_weight: "balanced": a cross-entropy that weighs each class by n / (classes x count),
as scikit-learn's "balanced", so a rare class counts as much in the loss as a frequent one.
Multi-label: binary cross-entropy with each label's positives weighted by negatives/positives
(torch's pos_weight), so a rare label is not learned as "always off"."""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F


def balanced_weights(labels: list[int], num_classes: int) -> list[float]:
    """n / (classes x count) per class; a class absent from the training data keeps weight 1."""
    counts = Counter(int(v) for v in labels)
    n = sum(counts.values())
    return [n / (num_classes * counts[k]) if counts[k] else 1.0 for k in range(num_classes)]


class WeightedCrossEntropy:
    """The Trainer's `compute_loss_func`: outputs and labels in, the weighted mean loss out."""

    def __init__(self, weights: list[float]):
        self.weights = torch.tensor(weights, dtype=torch.float32)

    def __call__(self, outputs, labels, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        weight = self.weights.to(logits.device)
        return F.cross_entropy(logits.float(), labels.to(logits.device).long(), weight=weight)


def positive_weights(rows: list[list[float]]) -> list[float]:
    """negatives / positives per label (1 where a label never or always occurs)."""
    y = torch.tensor(rows, dtype=torch.float32)
    pos, neg = y.sum(0), (1 - y).sum(0)
    ok = (pos > 0) & (neg > 0)
    return torch.where(ok, neg / pos.clamp(min=1), torch.ones_like(pos)).tolist()


class WeightedBCE:
    """The multi-label `compute_loss_func`: binary cross-entropy with pos_weight per label."""

    def __init__(self, weights: list[float]):
        self.weights = torch.tensor(weights, dtype=torch.float32)

    def __call__(self, outputs, labels, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        return F.binary_cross_entropy_with_logits(
            logits.float(),
            labels.to(logits.device).float(),
            pos_weight=self.weights.to(logits.device),
        )
