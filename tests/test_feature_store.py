"""The feature cache keeps only what the trainable part reads, in memory or on disk, and its
replayed outputs give the logits of the uncached model, whatever the batch's padding."""

import pytest
import torch
from datasets import Dataset
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from finetune_core.train.cache import store as feature_store
from finetune_core.train.cache.cut import Cut
from finetune_core.train.cache.features import FeatureCache


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 8)
        self.mix = nn.Linear(8, 8)

    def forward(self, input_ids, attention_mask=None):
        hidden = torch.tanh(self.mix(self.embed(input_ids)))
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=hidden[:, 0] * 2)


class Classifier(nn.Module):
    """A frozen base and a head that reads the pooled output, the first token or every token."""

    def __init__(self, reads: str):
        super().__init__()
        self.base, self.head, self.reads = Base(), nn.Linear(8, 3), reads

    def forward(self, input_ids, attention_mask):
        out = self.base(input_ids, attention_mask)
        if self.reads == "pooled":
            x = out.pooler_output
        elif self.reads == "first":
            x = out.last_hidden_state[:, 0]
        else:  # masked mean over the tokens
            m = attention_mask.unsqueeze(-1).float()
            x = (out.last_hidden_state * m).sum(1) / m.sum(1)
        return (self.head(x),)


def collate(rows):
    longest = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros((len(rows), longest), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "cache_index": torch.tensor([r["cache_index"] for r in rows]),
    }


BASE = Cut(("base",), "head only")


def by_index(all_rows):
    return lambda index: collate([all_rows[i] for i in index])


def rows(n, start):
    g = torch.Generator().manual_seed(start)
    out = []
    for i in range(n):
        length = int(torch.randint(2, 12, (1,), generator=g))
        ids = torch.randint(1, 40, (length,), generator=g).tolist()
        out.append({"input_ids": ids, "attention_mask": [1] * length, "cache_index": start + i})
    return Dataset.from_list(out)


@pytest.mark.parametrize(
    ("reads", "keep"),
    [("pooled", "none"), ("first", "first"), ("mean", "all")],
)
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_replay_gives_the_uncached_logits(reads, keep, where, tmp_path, monkeypatch):
    if where == "disk":
        monkeypatch.setenv("FINETUNE_CACHE_MAX_GB", "0")
    torch.manual_seed(0)
    model = Classifier(reads)
    train, evaluation = rows(23, 0), rows(9, 23)
    cache = FeatureCache(model, BASE)
    folder = tmp_path / "cache"
    all_rows = [*train, *evaluation]
    lengths = [len(r["input_ids"]) for r in all_rows]
    note = cache.build(by_index(all_rows), 32, lengths, 4, torch.device("cpu"), folder)
    assert note is not None and note.endswith(f"in {where}" if where == "memory" else "on disk")
    assert cache.keep["last_hidden_state"] == keep and cache.keep["pooler_output"] == "all"
    assert ("last_hidden_state" in cache.store) == (keep != "none")
    if keep == "first":
        assert cache.store["last_hidden_state"].shape == (32, 1, 8)
    assert bool(list(folder.glob("*.bin"))) == (where == "disk")

    for index in ([0, 5, 7], [30, 2], [11], list(range(32))):
        batch = collate([all_rows[i] for i in index])
        ids = batch.pop("cache_index")
        with torch.no_grad():
            want = model(**batch)[0]
            cache.begin(ids, batch["attention_mask"])
            got = model(**batch)[0]
            cache.end()
        torch.testing.assert_close(got, want)
    cache.close()
    assert not folder.exists() or not list(folder.glob("*.bin"))


def test_probe_tells_what_the_head_reads():
    hidden = torch.randn(3, 5, 4)
    fields = {"tokens": hidden, "pooled": hidden[:, 0]}

    def head(reads):
        return lambda f: {
            "pooled": f["pooled"],
            "first": f["tokens"][:, 0],
            "last": f["tokens"][:, -1],
            "scaled": f["tokens"].sum(1) * 0,  # NaN * 0 is NaN: still read
        }[reads]

    def run(reads):
        return feature_store.probe(fields, lambda replaced: head(reads)({**fields, **replaced}))

    assert run("pooled") == {"tokens": "none", "pooled": "all"}
    assert run("first") == {"tokens": "first", "pooled": "all"}
    assert run("last")["tokens"] == "all"
    assert run("scaled")["tokens"] == "all"


def test_a_cache_too_large_for_memory_and_disk_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_CACHE_MAX_GB", "0")
    monkeypatch.setenv("FINETUNE_CACHE_MAX_DISK_GB", "0")
    cache = FeatureCache(Classifier("mean"), BASE)
    data = list(rows(8, 0))
    lengths = [len(r["input_ids"]) for r in data]
    assert cache.build(by_index(data), 8, lengths, 4, torch.device("cpu"), tmp_path / "c") is None
    assert cache.note.startswith("off (about 0.0 GB: more than FINETUNE_CACHE_MAX_GB")
    assert not cache.store
