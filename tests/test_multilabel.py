"""Multi-label classification end to end: detection, inspect, training, eval.json, and a
transformers pipeline that loads the saved model as multi-label."""

import json
import random

import numpy as np
import pytest
import tiny

from finetune_core.cli import commands
from finetune_core.config import RunConfig
from finetune_core.data import load
from finetune_core.errors import DataError
from finetune_core.predict import predict
from finetune_core.train import multilabel_metrics as mm
from finetune_core.train import run as train

BASE = {"batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def multi_jsonl(tmp_path_factory):
    return tiny.write_jsonl(tmp_path_factory.mktemp("ml") / "tags.jsonl", tiny.multi_rows(240))


def test_inspect_says_multi_label(multi_jsonl, capsys):
    summary = load.summarize(str(multi_jsonl))
    assert summary.problem_type == "multi_label" and summary.columns.label == "labels"
    assert summary.label_names == ["neg", "neu", "pos"]
    assert sum(summary.class_counts.values()) == 360  # 120 rows with one label, 120 with two
    from finetune_core import hub

    assert hub.dataset_card(str(multi_jsonl)).class_counts == summary.class_counts
    assert commands.main(["inspect", str(multi_jsonl)]) == commands.EXIT_OK
    assert "multi-label" in capsys.readouterr().out


def test_single_label_on_lists_is_refused(multi_jsonl, tiny_bert, tmp_path):
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(multi_jsonl), "problem_type": "single_label"}
        | {"output_dir": str(tmp_path / "no")}
    )
    with pytest.raises(DataError, match="problem_type to multi_label"):
        train.run(cfg)


def test_multi_label_text_run_and_pipeline(multi_jsonl, tiny_bert, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(multi_jsonl), "output_dir": str(out)}
        | BASE
        | {"freeze": "none", "learning_rate": 3e-3, "epochs": 6}
    )
    result = train.run(cfg, release_memory=False)
    assert result.state == "completed"
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label"
    report = json.loads((out / "eval.json").read_text())
    assert report["problem_type"] == "multi_label" and "confusion_matrix" not in report
    assert report["metric_for_best"] == "f1_micro"
    assert report["f1_micro"] > 0.7 and 0 <= report["accuracy"] <= 1  # 0.82 measured
    assert report["f1_macro"] > report["majority_f1_macro"] + 0.3
    pos = report["per_class"]["pos"]
    assert pos["tp"] + pos["fn"] == pos["support"]
    assert pos["tp"] + pos["fp"] + pos["fn"] + pos["tn"] == report["num_examples"]
    model_cfg = json.loads((out / "model" / "config.json").read_text())
    assert model_cfg["problem_type"] == "multi_label_classification"
    assert model_cfg["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}

    from transformers import pipeline

    classify = pipeline("text-classification", model=str(out / "model"), top_k=None)
    scores = {d["label"]: d["score"] for d in classify(["great superb table river"])[0]}
    assert set(scores) == {"neg", "neu", "pos"}
    assert sum(scores.values()) > 1.2  # independent sigmoids, not a softmax
    assert scores["pos"] > 0.5 > scores["neg"]
    playground = predict(out, "great superb table river")  # the page's playground
    assert playground == pytest.approx(scores, abs=1e-5)


def test_multi_label_metrics_by_hand():
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    logits = np.array([[3.0, -3, 3], [-3, 3, 3], [3, -3, -3], [-3, -3, -3]])
    result = mm.scores(labels, mm.sigmoid(logits) > 0.5)
    assert result["accuracy"] == 0.5  # rows 0 and 2 exactly right
    # tp 4 (of 5 true), fp 1, fn 1: micro F1 = 8 / (8 + 2)
    assert result["f1_micro"] == pytest.approx(0.8)
    accuracy, f1, top = mm.majority(labels)
    assert accuracy == 0.25 and top.tolist() in ([True, False, True], [False, True, False])
    assert 0 <= f1 < 0.5


def color_folder(path, per_kind=12, seed=0):
    """16x16 PNGs tagged "red", "blue" or both (purple), listed in metadata.jsonl."""
    from PIL import Image

    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    kinds = {"red": ["red"], "blue": ["blue"], "purple": ["blue", "red"]}
    lines = []
    for kind, labels in kinds.items():
        for i in range(per_kind):
            color = [rng.randint(0, 50) for _ in range(3)]
            if "red" in labels:
                color[0] = rng.randint(190, 255)
            if "blue" in labels:
                color[2] = rng.randint(190, 255)
            name = f"{kind}_{i}.png"
            Image.new("RGB", (16, 16), tuple(color)).save(path / name)
            lines.append(json.dumps({"file_name": name, "labels": labels}))
    (path / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return path


def test_multi_label_images_with_the_feature_cache(tiny_vit, tmp_path):
    data = color_folder(tmp_path / "colors")
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_vit), "dataset": str(data), "output_dir": str(out)}
        | BASE
        | {"learning_rate": 0.05, "epochs": 8, "freeze": "backbone"}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    status = json.loads((out / "status.json").read_text())
    assert status["feature_cache"].startswith("on")
    report = json.loads((out / "eval.json").read_text())
    assert report["problem_type"] == "multi_label" and report["label_names"] == ["blue", "red"]
    assert report["f1_micro"] > 0.8
    model_cfg = json.loads((out / "model" / "config.json").read_text())
    assert model_cfg["problem_type"] == "multi_label_classification"
