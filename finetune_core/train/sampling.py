"""Length-aware batch order for text: sorted inference passes and length-grouped training.

Real text is long-tailed (most messages short, a few at max_length), and a batch is padded
to its longest row, so in random order most of the arithmetic is on padding: 2.5x slower
inference on SMS messages (issue 15). Inference passes (evaluation, prediction) therefore run
longest first and put their results back in the dataset's order; training can group rows of
similar length (transformers' LengthGroupedSampler: shuffled mega-batches sorted by length,
drawn from the seeded torch generator, so a run is reproducible with its seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler


def lengths_of(dataset) -> list[int] | None:
    """Token count of each row: the cache's numbered rows know theirs; a tokenized dataset
    has input_ids; anything else (images) has none."""
    lengths = getattr(dataset, "lengths", None)
    if lengths is not None:
        return list(lengths)
    names = getattr(dataset, "column_names", None) or []
    if "input_ids" in names:
        return [len(ids) for ids in dataset["input_ids"]]
    return None


def longest_first(lengths: Sequence[int]) -> list[int]:
    """Row numbers by decreasing length (ties in dataset order): the first batch is the
    largest, so an out-of-memory error comes at once, not at the end."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


class Ordered(Sampler):
    """A fixed order of row numbers."""

    def __init__(self, order: list[int]):
        self.order = order

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        return iter(self.order)


def restore_order(values: Any, order: list[int]) -> Any:
    """Results computed in `order` (row order[k] at position k) back in row order; tuples and
    lists of arrays element-wise; anything not one row per example is left as it is."""
    if isinstance(values, tuple | list):
        return type(values)(restore_order(v, order) for v in values)
    if isinstance(values, np.ndarray) and values.ndim and len(values) == len(order):
        out = np.empty_like(values)
        out[np.asarray(order)] = values
        return out
    return values
