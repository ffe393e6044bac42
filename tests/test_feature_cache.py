"""The frozen-feature cache gives the same training as computing the frozen part every step."""

import json

import pytest

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.train import run as train

HEAD_POOLER = ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1"]
LAST_BLOCK = ["bert.embeddings", "bert.encoder.layer.0"]  # "train the last N blocks", N = 1
FAST = {
    "epochs": 3,
    "batch_size": 8,
    "max_length": 16,
    "logging_steps": 1,
    "seed": 5,
    "learning_rate": 5e-3,
    "freeze": "backbone",  # the head only: what the cache stands in for (auto would time it)
}


def losses(run_dir):
    return [r["loss"] for r in runs.read_metrics(run_dir) if "loss" in r]


@pytest.mark.parametrize(
    ("freeze", "cut"),
    [("backbone", "bert"), (HEAD_POOLER, "bert.encoder"), (LAST_BLOCK, "bert.encoder.layer.0")],
)
def test_cached_text_run_matches_uncached(tiny_bert, text_csv, tmp_path, freeze, cut):
    results = {}
    for cached in (False, True):
        out = tmp_path / f"cache-{cached}"
        cfg = RunConfig.from_dict(
            {
                **FAST,
                "model": str(tiny_bert),
                "dataset": str(text_csv),
                "output_dir": str(out),
                "freeze": freeze,
                "feature_cache": cached,
            }
        )
        train.run(cfg)
        results[cached] = out
    note = json.loads((results[True] / "status.json").read_text())["feature_cache"]
    assert note.startswith(f"on (cut at {cut}:"), note
    assert json.loads((results[False] / "status.json").read_text())["feature_cache"].startswith(
        "off"
    )
    assert losses(results[True]) == pytest.approx(losses(results[False]), rel=1e-4, abs=1e-6)
    ev = [json.loads((results[c] / "eval.json").read_text()) for c in (False, True)]
    assert ev[0]["confusion_matrix"] == ev[1]["confusion_matrix"]
    # the saved model is a normal model: no trace of the cache in it
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(results[True] / "model")
    assert "forward" not in model.bert.__dict__


def test_cached_image_run_matches_uncached(tiny_vit, image_folder, tmp_path):
    results = {}
    for cached in (False, True):
        out = tmp_path / f"cache-{cached}"
        cfg = RunConfig.from_dict(
            {
                "model": str(tiny_vit),
                "dataset": str(image_folder),
                "output_dir": str(out),
                "feature_cache": cached,
                **FAST,
            }
        )
        train.run(cfg)
        results[cached] = out
    note = json.loads((results[True] / "status.json").read_text())["feature_cache"]
    assert note.startswith("on (cut at vit:"), note
    assert losses(results[True]) == pytest.approx(losses(results[False]), rel=1e-4, abs=1e-6)


def test_cache_is_off_when_a_block_trains(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {
            **FAST,
            "model": str(tiny_bert),
            "dataset": str(text_csv),
            "output_dir": str(out),
            "freeze": ["bert.embeddings"],
            "epochs": 1,
        }
    )
    train.run(cfg)
    note = json.loads((out / "status.json").read_text())["feature_cache"]
    assert note == "off (no block is frozen together with everything before it)"


@pytest.mark.parametrize("multiple", [None, 8])
def test_padded_rows_give_the_collators_batches(tiny_bert, multiple):
    """A cached text run takes its batches from rows padded once; they must be exactly the
    batches the padding collator builds from the same rows (values, pad ids, shape)."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from finetune_core.train.cache.padded_rows import PaddedRows

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = [" ".join(["good"] * n + ["bad"] * (n % 3)) for n in range(1, 24)]
    encoded = tokenizer(texts, truncation=True, max_length=20)
    rows = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
    for i, row in enumerate(rows):
        row.update(labels=i % 3, cache_index=i)
    train, evaluation = Dataset.from_list(rows[:17]), Dataset.from_list(rows[17:])
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=multiple)
    padded = PaddedRows([train, evaluation], collator, multiple)
    split = padded.split(17, 6)
    assert len(split) == 6 and split[0] == 17
    for index in ([0], [3, 1], [16, 2, 9, 5], [17, 22], list(range(23))):
        got = padded.collate(index)
        want = collator([rows[i] for i in index])
        assert set(got) == set(want)
        for key in want:
            assert torch.equal(got[key], want[key]), (index, key)


def test_frozen_checkpoints_hold_the_trainable_part_and_resume_exactly(
    tiny_bert, text_csv, tmp_path
):
    """A frozen run's checkpoints keep only what training changes, and a run stopped and
    resumed from one ends exactly where an uninterrupted run does."""
    import threading

    base = {"model": str(tiny_bert), "dataset": str(text_csv), **FAST, "save_steps": 3}
    whole = tmp_path / "whole"
    train.run(RunConfig.from_dict({**base, "output_dir": str(whole)}))

    out, stop = tmp_path / "stopped", threading.Event()

    def progress(step, max_steps, epoch):
        if step == 4:
            stop.set()

    cfg = RunConfig.from_dict({**base, "output_dir": str(out)})
    assert train.run(cfg, stop_event=stop, on_progress=progress).state == "stopped"
    checkpoint = runs.last_checkpoint(out)
    files = {p.name for p in checkpoint.iterdir()}
    assert "trainable.safetensors" in files and "model.safetensors" not in files, files
    from safetensors.torch import load_file

    saved = load_file(str(checkpoint / "trainable.safetensors"))
    assert {k for k in saved if not k.startswith("bert.")} == {
        "classifier.weight",
        "classifier.bias",
    }
    assert not any(k.startswith("bert.encoder") for k in saved)  # frozen weights stay out

    assert train.run(None, resume_dir=out).state == "completed"
    assert losses(out) == pytest.approx(losses(whole), rel=1e-5, abs=1e-7)
    ev = [json.loads((d / "eval.json").read_text()) for d in (whole, out)]
    assert ev[0]["confusion_matrix"] == ev[1]["confusion_matrix"]
    assert (out / "model" / "model.safetensors").exists()  # the final model is complete


def test_full_fine_tune_checkpoints_stay_complete(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = {"model": str(tiny_bert), "dataset": str(text_csv), **FAST, "freeze": "none"}
    train.run(RunConfig.from_dict({**cfg, "output_dir": str(out), "save_steps": 3}))
    files = {p.name for p in runs.last_checkpoint(out).iterdir()}
    assert "model.safetensors" in files and "trainable.safetensors" not in files


@pytest.mark.parametrize(
    ("limits", "note"),
    [
        ({"FINETUNE_CACHE_MAX_GB": "0"}, "MB on disk, built in"),
        (
            {"FINETUNE_CACHE_MAX_GB": "0", "FINETUNE_CACHE_MAX_DISK_GB": "0"},
            "off (about 0.0 GB: more than FINETUNE_CACHE_MAX_GB in memory and",
        ),
    ],
)
def test_cache_too_large_for_memory_goes_to_disk_or_off(
    tiny_bert, text_csv, tmp_path, monkeypatch, limits, note
):
    """Past the memory limit the cache is memory-mapped in the run folder (and removed when the
    run ends); past the disk limit too, the run trains uncached. Same losses either way."""
    results = {}
    for cached in (False, True):
        out = tmp_path / f"cache-{cached}"
        with monkeypatch.context() as env:
            for key, value in limits.items():
                env.setenv(key, value)
            cfg = {"model": str(tiny_bert), "dataset": str(text_csv), "feature_cache": cached}
            train.run(RunConfig.from_dict({**cfg, "output_dir": str(out), **FAST}))
        results[cached] = out
    status = json.loads((results[True] / "status.json").read_text())
    assert note in status["feature_cache"] and status["state"] == "completed"
    assert not (results[True] / ".feature-cache").exists()
    assert losses(results[True]) == pytest.approx(losses(results[False]), rel=1e-4, abs=1e-6)
