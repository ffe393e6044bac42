"""The rows of a cached run: train and eval numbered 0..N-1, collated with their numbers.

A cached step does almost no arithmetic, so the stock text path (a `datasets` row lookup and
`tokenizer.pad` in Python for every batch, about 1.5 ms on CPU) would be a third of it. For
text, PaddedRows lets the real collator pad all rows once (to the longest row, with the
tokenizer's own pad values); a batch takes its rows and cuts them to the batch's longest row,
rounded up as the collator would. With right padding that is exactly the batch the collator
would have built; the cache is only used with right padding (attach.py). Images go through
IndexedRows: the dataset's own transform and collator, batch by batch.

Either way the datasets handed to the Trainer hold row numbers (ints), and every batch
carries "cache_index", which tells the cache which examples it holds.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

INDEX = "cache_index"
_SCALAR_KEYS = ("labels", INDEX)


class IndexedRows:
    """Rows of several datasets, numbered in order; a batch is the collator's plus the numbers."""

    lengths: list[int] | None = None

    def __init__(self, datasets, collator):
        self.parts = [(ds, sum(len(d) for d in datasets[:i])) for i, ds in enumerate(datasets)]
        self.collator = collator

    def split(self, start: int, n: int) -> Rows:
        lengths = self.lengths[start : start + n] if self.lengths is not None else None
        return Rows(start, n, lengths)

    def row(self, i: int) -> dict:
        for ds, start in reversed(self.parts):
            if i >= start:
                return ds[i - start]
        raise IndexError(i)

    def collate(self, index: list[int]) -> dict[str, torch.Tensor]:
        batch = dict(self.collator([self.row(i) for i in index]))
        batch[INDEX] = torch.tensor(index)
        return batch


class PaddedRows(IndexedRows):
    """All rows of the train and eval sets, padded once (text)."""

    def __init__(self, datasets, collator, multiple: int | None):
        super().__init__(datasets, collator)
        rows = [row for ds in datasets for row in ds]
        ragged = [k for k in rows[0] if k not in _SCALAR_KEYS]
        self.lengths = [len(row[ragged[0]]) for row in rows]
        self._lengths = torch.tensor(self.lengths)
        self.columns: dict[str, torch.Tensor] = collator(rows)  # one padded tensor per key
        self.ragged = ragged
        self.multiple = multiple

    def collate(self, index: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.tensor(index)
        length = int(self._lengths[idx].max())
        if self.multiple:
            length = -(-length // self.multiple) * self.multiple
        batch = {}
        for key, column in self.columns.items():
            rows = column.index_select(0, idx)
            batch[key] = rows[:, :length] if key in self.ragged else rows
        batch[INDEX] = idx
        return batch


class Rows(Dataset):
    """A split's row numbers (and their lengths, for length-sorted passes): the collator does
    the rest."""

    def __init__(self, start: int, n: int, lengths: list[int] | None):
        self.start, self.n, self.lengths = start, n, lengths

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.start + i


def rows_for(datasets, collator) -> IndexedRows:
    """PaddedRows for text (a padding collator), IndexedRows for anything else."""
    from transformers import DataCollatorWithPadding

    if isinstance(collator, DataCollatorWithPadding):
        return PaddedRows(datasets, collator, collator.pad_to_multiple_of)
    return IndexedRows(datasets, collator)
