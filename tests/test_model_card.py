"""The model card is Hub-ready: huggingface_hub parses its metadata (task, library, base model,
datasets, license) and its model-index carries the evaluation scores of eval.json."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results

from finetune_core.config import RunConfig
from finetune_core.model import ModelSummary
from finetune_core.train import run as train
from finetune_core.train.model_card import card_metadata

TOKEN = "hf_test_token"
TINY = {"epochs": 1, "batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3}
TINY |= {"freeze": "backbone"}  # the card lists the frozen groups (auto trains a tiny model whole)


def test_a_run_on_a_hub_model_writes_hub_metadata_and_its_scores(
    fake_hub, tiny_bert, text_csv, tmp_path
):
    fake_hub.add_model("eco-card/tiny-bert", tiny_bert, tags=["license:apache-2.0"])
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": "eco-card/tiny-bert", "dataset": str(text_csv), "output_dir": str(out), **TINY}
    )
    assert train.run(cfg, token=TOKEN).state == "completed"
    path = out / "model" / "README.md"
    report = json.loads((out / "eval.json").read_text())

    meta = metadata_load(path)
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["library_name"] == "transformers"
    assert meta["base_model"] == "eco-card/tiny-bert"
    assert meta["license"] == "apache-2.0"  # read from the base model's card on the Hub
    assert "datasets" not in meta  # a local file is no Hub dataset id
    assert "finetune-dashboard" in meta["tags"]

    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == "tiny-bert-finetuned-reviews"
    scores = {(r.metric_type, r.metric_name): r.metric_value for r in results}
    assert scores == {
        ("accuracy", "Accuracy"): pytest.approx(report["accuracy"], abs=1e-6),
        ("f1", "F1 (macro)"): pytest.approx(report["f1_macro"], abs=1e-6),
    }
    for r in results:
        assert r.task_type == "text-classification"
        assert r.dataset_type == r.dataset_name == "reviews.csv"
        assert r.dataset_split == "held out 10% of train"

    card = ModelCard.load(path, ignore_metadata_errors=False)  # strict parse, as the Hub does
    assert card.data.eval_results == results and card.data.base_model == "eco-card/tiny-bert"
    assert "bert.encoder.layer.0" in card.text and 'pipeline("text-classification"' in card.text
    assert TOKEN not in path.read_text()
    # a published card names a local dataset by its file name: its server path (for an
    # upload, the key to it) is in no line of the card (issue 20)
    assert "- Dataset: `reviews.csv`" in card.text
    assert str(text_csv.parent) not in path.read_text()


def test_hub_dataset_and_config_go_into_the_metadata(tiny_bert):
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": "owner/reviews", "dataset_config": "en"}
    )
    cfg = cfg.with_overrides({"label_names": ["a", "b"]})  # a RunConfig is immutable
    summary = ModelSummary(str(tiny_bert), "image", 10, 2, [], ["vit.embeddings"])
    metrics = {"accuracy": 0.75, "f1_micro": 0.8, "f1_macro": 0.7}
    data = card_metadata(cfg, summary, metrics, eval_split="validation").to_dict()
    assert data["datasets"] == ["owner/reviews"] and data["pipeline_tag"] == "image-classification"
    assert "base_model" not in data and "license" not in data  # local folder without a license
    _, results = model_index_to_eval_results(data["model-index"])
    assert {(r.metric_name, r.metric_value) for r in results} == {
        ("Accuracy", 0.75),
        ("F1 (macro)", 0.7),
        ("F1 (micro)", 0.8),
    }
    assert {(r.dataset_type, r.dataset_config, r.dataset_split) for r in results} == {
        ("owner/reviews", "en", "validation")
    }
    # a stopped run has no final scores: no model-index at all
    assert "model-index" not in card_metadata(cfg, summary, None).to_dict()
