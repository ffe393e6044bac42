"""What a run skips before its first step (issue 15, the warm page) changes nothing it
computes: tokenized splits are keyed on what decides them, so a cached tokenization is never
reused for another tokenizer or max_length; the training loop's reset without a garbage
collection leaves the accelerator as the stock reset does."""

import tiny
from transformers import AutoTokenizer

from finetune_core.config import RunConfig
from finetune_core.data import prepare
from finetune_core.train.trainer import _free_memory_without_gc


def _tokenized(tmp_path, tokenizer, max_length):
    csv = tiny.write_csv(tmp_path / "data.csv", tiny.longtail_rows(40, seed=2))
    cfg = RunConfig(model="unused", dataset=str(csv))
    data = prepare.prepare(cfg)  # a CSV loads from disk: map writes (and reuses) cache files
    return prepare.tokenize(data, tokenizer, max_length)


def test_tokenized_splits_follow_max_length_and_tokenizer(tmp_path, tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    long = _tokenized(tmp_path, tokenizer, 32)
    short = _tokenized(tmp_path, tokenizer, 8)
    assert max(len(ids) for ids in long.train["input_ids"]) > 8
    assert max(len(ids) for ids in short.train["input_ids"]) == 8  # not the cached 32
    assert long.train._fingerprint != short.train._fingerprint
    split = long.train
    key = prepare._tokenized_fingerprint(split, tokenizer, 32, "text", "label")
    assert key == prepare._tokenized_fingerprint(split, tokenizer, 32, "text", "label")
    assert key != prepare._tokenized_fingerprint(split, tokenizer, 32, "text", "other")

    tokenizer.truncation_side = "left"  # another tokenization of the same rows
    left = _tokenized(tmp_path, tokenizer, 8)
    assert left.train._fingerprint != short.train._fingerprint
    assert left.train["input_ids"] != short.train["input_ids"]


def test_reset_without_collection_matches_the_stock_reset():
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    accelerator._models, accelerator._optimizers = ["m"], ["o"]
    accelerator._schedulers, accelerator._dataloaders = ["s"], ["d"]
    accelerator.step = 7
    assert _free_memory_without_gc(accelerator)() == []
    assert accelerator._models == accelerator._optimizers == []
    assert accelerator._schedulers == accelerator._dataloaders == []
    assert accelerator.step == 0
    released = _free_memory_without_gc(accelerator)("a", "b")  # objects: the stock method
    assert released == [None, None]


def test_a_new_phase_shows_at_once_then_counts_are_throttled(tmp_path):
    from finetune_core.runs import RunDir, RunWriter, phases

    run_dir = RunDir(tmp_path / "run")
    run_dir.path.mkdir()
    p = RunWriter(run_dir)
    p.phase(phases.PREPARING)
    p.phase(phases.CACHING, 0, 100)  # within a second of the last write: still shown
    assert run_dir.read_status()["phase"] == phases.CACHING
    p.phase(phases.CACHING, 10, 100)
    assert run_dir.read_status()["phase_done"] == 0  # counts stay at most one write a second
    p.phase(phases.CACHING, 100, 100)
    assert run_dir.read_status()["phase_done"] == 100  # the last count always
