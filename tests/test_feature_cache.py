"""The frozen-feature cache gives the same training as computing the frozen part every step."""

import json

import pytest

from finetune_core import runs, train
from finetune_core.config import RunConfig

HEAD_POOLER = ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1"]
FAST = {
    "epochs": 3,
    "batch_size": 8,
    "max_length": 16,
    "logging_steps": 1,
    "seed": 5,
    "learning_rate": 5e-3,
}


def losses(run_dir):
    return [r["loss"] for r in runs.read_metrics(run_dir) if "loss" in r]


@pytest.mark.parametrize(("freeze", "cut"), [("backbone", "bert"), (HEAD_POOLER, "bert.encoder")])
def test_cached_text_run_matches_uncached(tiny_bert, text_csv, tmp_path, freeze, cut):
    results = {}
    for cached in (False, True):
        out = tmp_path / f"cache-{cached}"
        cfg = RunConfig.from_dict(
            {
                "model": str(tiny_bert),
                "dataset": str(text_csv),
                "output_dir": str(out),
                "freeze": freeze,
                "feature_cache": cached,
                **FAST,
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
            "model": str(tiny_bert),
            "dataset": str(text_csv),
            "output_dir": str(out),
            "freeze": ["bert.embeddings"],
            **FAST,
            "epochs": 1,
        }
    )
    train.run(cfg)
    note = json.loads((out / "status.json").read_text())["feature_cache"]
    assert note == "off (a layer before the last block trains)"
