"""End-to-end runs on tiny models: run dir contract, freezing, stop, resume, data errors."""

import json
import threading

import pytest
import tiny
import torch
from safetensors.torch import load_file
from transformers import set_seed

from finetune_core import model as m
from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import DataError, FinetuneError
from finetune_core.runs import phases
from finetune_core.train import run as train

# the head only unless a test says otherwise (auto would time a few steps and train it whole)
FAST = {"epochs": 2, "batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3}
FAST |= {"freeze": "backbone"}


def initial_state(source, num_labels, task="text"):
    set_seed(FAST["seed"])
    return {
        k: v.clone() for k, v in m.load_model(source, num_labels, task=task).state_dict().items()
    }


def trained_state(run_dir):
    return load_file(str(run_dir / "model" / "model.safetensors"))


def test_text_run_writes_the_run_dir_contract(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(text_csv), "output_dir": str(out), **FAST}
    )
    result = train.run(cfg)
    assert result.state == "completed"

    config = json.loads((out / "config.json").read_text())
    assert (config["text_column"], config["label_column"]) == ("review_body", "verdict")
    assert config["num_labels"] == 3 and config["label_names"] == ["neg", "neu", "pos"]

    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "completed" and status["error"] is None
    assert status["step"] == status["max_steps"] > 0
    assert status["started"].endswith("Z") and status["updated"].endswith("Z")

    records = runs.read_metrics(out)
    losses = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    assert len(losses) >= 3 and all(
        {"step", "epoch", "time", "learning_rate"} <= r.keys() for r in losses
    )
    assert len(evals) == 2 and all({"eval_accuracy", "eval_f1_macro"} <= r.keys() for r in evals)
    assert records[-1] == {**records[-1], "event": "end", "state": "completed"}

    report = json.loads((out / "eval.json").read_text())
    assert report["label_names"] == ["neg", "neu", "pos"]
    matrix = report["confusion_matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == report["num_examples"] == 6
    assert report["accuracy"] == pytest.approx(sum(matrix[i][i] for i in range(3)) / 6)
    assert set(report["per_class"]["pos"]) == {"precision", "recall", "f1", "support"}

    model_cfg = json.loads((out / "model" / "config.json").read_text())
    assert model_cfg["num_labels"] == 3
    assert model_cfg["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}
    assert (out / "model" / "tokenizer.json").exists()
    card = (out / "model" / "README.md").read_text()
    assert "bert.encoder.layer.0" in card and "accuracy" in card

    # freeze="backbone": every backbone tensor bit-identical, the head changed
    before, after = initial_state(str(tiny_bert), 3), trained_state(out)
    for name, tensor in before.items():
        if name.startswith("classifier"):
            assert not torch.equal(tensor, after[name]), name
        else:
            assert torch.equal(tensor, after[name]), name


def test_freeze_list_leaves_exactly_those_groups_unchanged(tiny_bert, text_csv, tmp_path):
    frozen = ["bert.embeddings", "bert.encoder.layer.0"]
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {
            "model": str(tiny_bert),
            "dataset": str(text_csv),
            "output_dir": str(out),
            **FAST,
            "freeze": frozen,
            "learning_rate": 1e-2,
        }
    )
    train.run(cfg)
    before, after = initial_state(str(tiny_bert), 3), trained_state(out)
    for name, tensor in before.items():
        same = torch.equal(tensor, after[name])
        in_frozen = any(name.startswith(g + ".") for g in frozen)
        if "LayerNorm" in name and not in_frozen:
            continue  # may legitimately stay put in two steps; weights of the blocks must move
        assert same == in_frozen, name
    status = json.loads((out / "status.json").read_text())
    groups = m.layer_groups(m.load_model(str(tiny_bert), 3, task="text"))
    assert status["trainable_params"] == sum(g.params for g in groups if g.name not in frozen)


def test_image_folder_run(tiny_vit, image_folder, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {
            "model": str(tiny_vit),
            "dataset": str(image_folder),
            "output_dir": str(out),
            **FAST,
            "freeze": "none",
        }
    )
    result = train.run(cfg)
    assert result.state == "completed"
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "image" and config["image_column"] == "image"
    assert config["label_names"] == ["blue", "red"]
    assert (out / "model" / "preprocessor_config.json").exists()
    assert json.loads((out / "eval.json").read_text())["num_examples"] == 2


def test_stop_ends_within_a_step_and_resume_continues(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    stop = threading.Event()
    seen = []

    def progress(step, max_steps, epoch):
        seen.append(step)
        if step == 3:
            stop.set()

    cfg = RunConfig.from_dict(
        {
            "model": str(tiny_bert),
            "dataset": str(text_csv),
            "output_dir": str(out),
            **FAST,
            "epochs": 3,
        }
    )
    result = train.run(cfg, stop_event=stop, on_progress=progress)
    assert result.state == "stopped" and max(seen) == 3
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "stopped" and status["step"] == 3
    assert (out / "model" / "model.safetensors").exists()
    assert runs.last_checkpoint(out).name == "checkpoint-3"

    with pytest.raises(FinetuneError, match="already holds files"):
        train.run(cfg)

    result = train.run(None, resume_dir=out)
    assert result.state == "completed"
    records = [r for r in runs.read_metrics(out) if "loss" in r]
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)) and steps[0] == 1 and max(steps) > 3
    assert json.loads((out / "status.json").read_text())["step"] == status["max_steps"]
    times = [r["time"] for r in records]
    assert times == sorted(times)


BAD_DATA = [
    ([{"text": "a b", "score": 1.5}] * 8, {}, "No label column found"),
    ([{"text": "good", "label": "pos"}] * 8, {}, "has only one class"),
    (
        tiny.text_rows(12),
        {"num_labels": 2},
        "num_labels is 2 but label column 'label' has 3 classes",
    ),
    (tiny.text_rows(12), {"eval_split": "validation"}, "Split 'validation' is not in the dataset"),
    ([{"text": "good", "label": None}, *tiny.text_rows(12)], {}, "has 1 empty value(s)"),
]


@pytest.mark.parametrize(("rows", "change", "message"), BAD_DATA)
def test_bad_data_fails_with_one_sentence(tiny_bert, tmp_path, rows, change, message):
    data = tiny.write_jsonl(tmp_path / "data.jsonl", rows)
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(data), "output_dir": str(out), **FAST, **change}
    )
    with pytest.raises(DataError) as err:
        train.run(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and message in status["error"]


def test_phases_reach_the_callback_and_status_and_a_stop_ends_the_cache_pass(
    tiny_bert, text_csv, tmp_path
):
    """Loading, caching, evaluating and saving are reported as they happen (the page and the
    terminal show them), and Stop is honoured while the frozen layers are being cached."""
    seen, statuses = [], []
    out = tmp_path / "run"

    def on_phase(name, done, total):
        seen.append((name, done, total))
        statuses.append(json.loads((out / "status.json").read_text()).get("phase"))

    base = {"model": str(tiny_bert), "dataset": str(text_csv), **FAST, "epochs": 1}
    cfg = RunConfig.from_dict({**base, "output_dir": str(out)})
    assert train.run(cfg, on_phase=on_phase).state == "completed"
    names = list(dict.fromkeys(name for name, _, _ in seen))
    assert names == [
        phases.LOADING_DATA,
        phases.LOADING_MODEL,
        phases.PREPARING,
        phases.CACHING,
        phases.SEARCHING_LR,  # learning_rate null, the cache on: a few trials on the cache
        phases.TRAINING,
        phases.EVALUATING,
        phases.BASELINE,
        phases.SAVING,
    ]
    counts = [(done, total) for name, done, total in seen if name == phases.CACHING]
    total = counts[0][1]
    assert counts[0] == (0, total) and counts[-1] == (total, total) and len(counts) > 2
    assert [d for d, _ in counts] == sorted(d for d, _ in counts)
    assert phases.LOADING_MODEL in statuses  # written to status.json as well
    assert json.loads((out / "status.json").read_text())["phase"] is None  # over

    stop, stopped_out = threading.Event(), tmp_path / "stopped"

    def stop_while_caching(name, done, total):
        if name == phases.CACHING and done:
            stop.set()

    cfg = RunConfig.from_dict({**base, "output_dir": str(stopped_out)})
    result = train.run(cfg, stop_event=stop, on_phase=stop_while_caching)
    assert result.state == "stopped"
    status = json.loads((stopped_out / "status.json").read_text())
    assert status["state"] == "stopped" and status["step"] == 0 and status["phase"] is None
    assert not [r for r in runs.read_metrics(stopped_out) if "loss" in r]
