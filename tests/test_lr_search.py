"""The learning-rate search: on the cached features when learning_rate is null, recorded in
metrics.jsonl, status.json and config.json, and invisible to the training it precedes."""

import json

import pytest
import torch
from safetensors.torch import load_file

from finetune_core import charts, runs
from finetune_core.config import HEAD_ONLY_LR, RunConfig
from finetune_core.train import lr_search
from finetune_core.train import run as train

# the head only: the search runs for head plans (auto trains a tiny model whole)
BASE = {"batch_size": 8, "max_length": 16, "seed": 3, "epochs": 2, "freeze": "backbone"}


def run(tiny_bert, text_csv, out, **extra):
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(text_csv), "output_dir": str(out), **BASE, **extra}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    return runs.read_json(out / "status.json"), runs.read_json(out / "config.json")


def test_the_search_picks_by_eval_loss_and_records_its_trials(tiny_bert, text_csv, tmp_path):
    status, config = run(tiny_bert, text_csv, tmp_path / "search")
    search = status["learning_rate_search"]
    assert [t["learning_rate"] for t in search["trials"]] == list(lr_search.GRID)
    best = min(search["trials"], key=lambda t: t["eval_loss"])
    assert search["chosen"] == best["learning_rate"] == config["learning_rate"]
    assert search["steps_per_trial"] == 6  # one pass over 48 training rows in batches of 8
    lines = [r for r in runs.read_metrics(tmp_path / "search") if "lr_trial" in r]
    assert [r["trial_learning_rate"] for r in lines] == list(lr_search.GRID)
    assert all(r["step"] == 0 and "loss" not in r for r in lines)
    figure = charts.lr_figure(runs.read_metrics(tmp_path / "search"))  # the page's chart
    (trials,) = [t for t in figure.data if t.name == "search trials"]
    assert list(trials.y) == list(lr_search.GRID)
    assert sum("(chosen)" in text for text in trials.text) == 1

    # the search leaves no trace in the training: the same run with that rate given is identical
    _, fixed_config = run(tiny_bert, text_csv, tmp_path / "fixed", learning_rate=search["chosen"])
    assert fixed_config["learning_rate"] == config["learning_rate"]
    searched = load_file(str(tmp_path / "search" / "model" / "model.safetensors"))
    fixed = load_file(str(tmp_path / "fixed" / "model" / "model.safetensors"))
    assert all(torch.equal(searched[k], fixed[k]) for k in fixed)


def test_without_the_cache_the_search_is_skipped_with_the_reason(tiny_bert, text_csv, tmp_path):
    status, config = run(tiny_bert, text_csv, tmp_path / "nocache", feature_cache=False)
    assert status["learning_rate_search"]["chosen"] is None
    assert "feature cache is off" in status["learning_rate_search"]["skipped"]
    assert config["learning_rate"] == HEAD_ONLY_LR
    assert not [r for r in runs.read_metrics(tmp_path / "nocache") if "lr_trial" in r]


def test_a_given_learning_rate_is_never_searched(tiny_bert, text_csv, tmp_path):
    status, config = run(tiny_bert, text_csv, tmp_path / "given", learning_rate=0.02)
    assert "learning_rate_search" not in status and config["learning_rate"] == 0.02
    assert json.loads((tmp_path / "given" / "eval.json").read_text())["best_step"] is not None


@pytest.mark.parametrize("rates", [(1e-3,), (1e-3, 1e-2)])
def test_search_restores_the_initial_weights(tiny_bert, rates, tmp_path):
    """search() on a plain Trainer (no cache): the model comes back as it went in."""
    from transformers import TrainingArguments

    from finetune_core import model as m
    from finetune_core.train.trainer import FinetuneTrainer

    model = m.load_model(str(tiny_bert), 2, task="text")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.randint(5, 20, (8, 6))
    rows = [
        {"input_ids": i, "attention_mask": torch.ones(6), "labels": n % 2}
        for n, i in enumerate(ids)
    ]
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, report_to="none", use_cpu=True
    )
    trainer = FinetuneTrainer(model=model, args=args, train_dataset=rows, eval_dataset=rows)
    result = lr_search.search(trainer, grid=rates, max_steps=2)
    assert [t["learning_rate"] for t in result["trials"]] == list(rates)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
