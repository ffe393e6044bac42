"""The plan `freeze: auto` picks on real data (the top block over the cached frozen prefix) saves
an ordinary model: transformers' pipeline loads it and gives back eval.json's numbers on the
reported rows, and it exports to ONNX within the parity tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny

from finetune_core import export
from finetune_core.config import RunConfig
from finetune_core.export import onnx as export_onnx
from finetune_core.train import run as train

TOP_BLOCK = ["bert.embeddings", "bert.encoder.layer.0"]  # the tiny model's 2 blocks: train 1


@pytest.fixture(scope="module")
def top_block_run(tiny_bert, tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("partial-data")
    tiny.write_csv(data / "train.csv", tiny.text_rows(120, seed=0))
    tiny.write_csv(data / "test.csv", tiny.text_rows(30, seed=1))
    out = tmp_path_factory.mktemp("partial") / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(data), "output_dir": str(out)}
        | {"freeze": TOP_BLOCK, "epochs": 8, "batch_size": 8, "max_length": 16, "seed": 3}
        | {"learning_rate": 1e-2}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    return out


def test_the_pipeline_reproduces_eval_json_on_the_reported_rows(top_block_run):
    from transformers import pipeline

    status = json.loads((top_block_run / "status.json").read_text())
    assert status["feature_cache"].startswith("on (cut at"), status["feature_cache"]
    report = json.loads((top_block_run / "eval.json").read_text())
    assert report["report_split"] == "test"
    assert report["accuracy"] > 0.6  # it learned: agreement with a guessing model proves little
    rows = tiny.text_rows(30, seed=1)
    classify = pipeline("text-classification", model=str(top_block_run / "model"))
    predicted = [p["label"] for p in classify([r["text"] for r in rows], truncation=True)]
    correct = sum(p == r["label"] for p, r in zip(predicted, rows, strict=True))
    assert correct / len(rows) == pytest.approx(report["accuracy"])
    assert len(rows) == report["num_examples"]


def test_it_exports_to_onnx_within_tolerance(top_block_run):
    export.export_onnx(top_block_run)
    report = json.loads((top_block_run / "onnx" / "export.json").read_text())
    (floats,) = report["variants"]
    assert floats["max_abs_diff"] <= export_onnx.TOLERANCE and floats["agreement"] == 1.0
    evaluated = json.loads((top_block_run / "eval.json").read_text())
    assert report["pytorch_accuracy"] == pytest.approx(evaluated["accuracy"])
