"""Length-aware batch order: sorted inference passes give the unsorted results in the input's
order; length-grouped training is reproducible with the seed and pads less."""

import numpy as np
import pytest
import tiny
import torch
from datasets import Dataset

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.train import run as train
from finetune_core.train import sampling


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A tiny BERT classifier (3 labels) saved as a run's model/, with its tokenizer."""
    from transformers import AutoTokenizer

    run_dir = tmp_path_factory.mktemp("run")
    path = tiny.make_bert(run_dir / "model", num_labels=3, seed=1)
    return run_dir, AutoTokenizer.from_pretrained(path)


def texts(n=50):
    return [row["text"] for row in tiny.longtail_rows(n, seed=3)]


def test_sorted_evaluation_matches_the_unsorted_pass(classifier, tmp_path):
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from finetune_core.train.trainer import FinetuneTrainer

    run_dir, tokenizer = classifier
    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "model")
    data = Dataset.from_dict({"text": texts(), "labels": [i % 3 for i in range(50)]})
    data = data.map(lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    args = TrainingArguments(
        str(tmp_path), per_device_eval_batch_size=8, use_cpu=True, report_to="none"
    )
    kwargs = {"model": model, "args": args, "data_collator": DataCollatorWithPadding(tokenizer)}
    sorted_trainer = FinetuneTrainer(**kwargs)
    order = list(sorted_trainer._get_eval_sampler(data))
    assert order != list(range(len(data))) and sorted(order) == list(range(len(data)))
    got = sorted_trainer.predict(data)
    want = Trainer(**kwargs).predict(data)  # the stock sequential pass
    assert np.array_equal(got.label_ids, want.label_ids)
    np.testing.assert_allclose(got.predictions, want.predictions, rtol=1e-5, atol=1e-6)
    assert got.metrics["test_loss"] == pytest.approx(want.metrics["test_loss"], rel=1e-5)


def test_predict_many_matches_one_at_a_time(classifier):
    from finetune_core import predict

    run_dir, _ = classifier
    inputs = texts(20)
    many = predict.predict_many(run_dir, inputs, batch_size=6)
    for text, probs in zip(inputs, many, strict=True):
        one = predict.predict(run_dir, text)
        assert list(probs) == list(one)
        assert list(probs.values()) == pytest.approx(list(one.values()), abs=1e-6)


def test_grouped_batches_pad_less_and_keep_every_row():
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths = [len(t.split()) for t in texts(400)]
    torch.manual_seed(0)
    grouped = list(LengthGroupedSampler(16, lengths=lengths))
    shuffled = torch.randperm(len(lengths)).tolist()
    assert sorted(grouped) == list(range(len(lengths)))

    def padded(order):
        return sum(max(lengths[i] for i in order[k : k + 16]) * 16 for k in range(0, 400, 16))

    assert padded(grouped) < 0.8 * padded(shuffled)
    assert sampling.restore_order(np.arange(5) * 10, [4, 0, 3, 1, 2]).tolist() == [
        10,
        30,
        40,
        20,
        0,
    ]


def test_grouped_training_is_reproducible_with_the_seed(tiny_bert, tmp_path):
    data = tiny.write_csv(tmp_path / "long.csv", tiny.longtail_rows(60, seed=4))
    base = {
        "model": str(tiny_bert),
        "dataset": str(data),
        "freeze": "none",
        "epochs": 1,
        "batch_size": 8,
        "max_length": 48,
        "logging_steps": 1,
        "learning_rate": 1e-3,
        "feature_cache": False,
    }
    losses = {}
    for name, extra in {
        "a": {},
        "b": {},
        "other-seed": {"seed": 7},
        "random": {"group_by_length": False},
    }.items():
        out = tmp_path / name
        train.run(RunConfig.from_dict({**base, **extra, "output_dir": str(out)}))
        losses[name] = [r["loss"] for r in runs.read_metrics(out) if "loss" in r]
    assert losses["a"] == losses["b"]
    assert losses["a"] != losses["other-seed"]
    assert losses["a"] != losses["random"]  # grouping changed the batches
