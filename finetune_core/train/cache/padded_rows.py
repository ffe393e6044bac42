"""Tokenized rows padded once, so a batch of a cached run costs one slice per column.

A cached step does almost no arithmetic, so the stock text path (a `datasets` row lookup and
`tokenizer.pad` in Python for every batch, about 1.5 ms on CPU) would be a third of it. Here
the real collator pads all rows once (to the longest row, with the tokenizer's own pad values),
and a batch takes its rows and cuts them to the batch's longest row, rounded up as the
collator would. With right padding that is exactly the batch the collator would have built;
the feature cache is only used with right padding (see feature_cache.check_processor).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

_SCALAR_KEYS = ("labels", "cache_index")


class PaddedRows:
    """All rows of the train and eval sets (numbered by "cache_index"), padded once."""

    def __init__(self, datasets, collator, multiple: int | None):
        rows = [row for ds in datasets for row in ds]
        order = [row["cache_index"] for row in rows]
        if order != list(range(len(rows))):
            raise ValueError("rows must be numbered 0..N-1 in order")
        ragged = [k for k in rows[0] if k not in _SCALAR_KEYS]
        self.lengths = torch.tensor([len(row[ragged[0]]) for row in rows])
        self.columns: dict[str, torch.Tensor] = collator(rows)  # one padded tensor per key
        self.ragged = ragged
        self.multiple = multiple

    def split(self, start: int, n: int) -> _Rows:
        return _Rows(start, n)

    def collate(self, index: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.tensor(index)
        length = int(self.lengths[idx].max())
        if self.multiple:
            length = -(-length // self.multiple) * self.multiple
        batch = {}
        for key, column in self.columns.items():
            rows = column.index_select(0, idx)
            batch[key] = rows[:, :length] if key in self.ragged else rows
        return batch


class _Rows(Dataset):
    """A split's row numbers: the collator does the rest."""

    def __init__(self, start: int, n: int):
        self.start, self.n = start, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.start + i
