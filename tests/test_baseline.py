"""The quick classical baseline beside every run (train/baseline.py) and multi-label
thresholds (train/thresholds.py): fitted on the training rows, scored on the report split,
never failing a run; eval.json, the CLI's last line and the Results step carry it."""

import json

import numpy as np
import pytest
import tiny
from PIL import Image

from finetune_core.config import RunConfig
from finetune_core.train import baseline, thresholds
from finetune_core.train import run as train
from finetune_core.ui import results_tab

WORDS = tiny.WORDS


def texts(n, seed=0):
    rows = tiny.text_rows(n, seed=seed)
    names = sorted(WORDS)
    return [r["text"] for r in rows], [names.index(r["label"]) for r in rows]


def test_text_baseline_scores_the_report_rows():
    result = baseline.fit(
        "text", texts(90), texts(15, 1), texts(30, 2), num_labels=3, multi_label=False
    )
    assert result["name"] == baseline.TEXT_NAME and result["train_rows"] == 90
    assert result["f1_macro"] == pytest.approx(1.0) and result["accuracy"] == pytest.approx(1.0)
    assert result["seconds"] >= 0 and "f1_micro" not in result


def test_image_baseline_reads_thumbnails():
    rng = np.random.default_rng(0)

    def images(n):
        out, labels = [], []
        for i in range(n):
            red = i % 2
            color = (200 + rng.integers(0, 50), 0, 0) if red else (0, 0, 200 + rng.integers(0, 50))
            out.append(Image.new("RGB", (24, 24), tuple(int(c) for c in color)))
            labels.append(red)
        return out, labels

    result = baseline.fit(
        "image", images(40), images(10), images(20), num_labels=2, multi_label=False
    )
    assert result["name"] == baseline.IMAGE_NAME and result["accuracy"] == pytest.approx(1.0)


def test_multi_label_baseline_tunes_its_cuts_on_selection(monkeypatch):
    def rows(n, seed):
        text, labels = texts(n, seed)
        hot = [
            [1.0 if k == j or (i % 4 == 0 and k == (j + 1) % 3) else 0.0 for k in range(3)]
            for i, j in enumerate(labels)
        ]
        return text, hot

    result = baseline.fit(
        "text", rows(120, 0), rows(30, 1), rows(30, 2), num_labels=3, multi_label=True
    )
    assert 0 < result["f1_micro"] <= 1 and 0 < result["f1_macro"] <= 1
    monkeypatch.setattr(baseline, "MAX_ROWS", 10)  # a huge dataset costs seconds too
    capped = baseline.fit(
        "text", rows(120, 0), rows(30, 1), rows(30, 2), num_labels=3, multi_label=True
    )
    assert capped["train_rows"] == 10


def test_the_verdict_names_the_metric_the_baseline_wins():
    base = {"name": "b", "seconds": 2.0, "f1_macro": 0.8, "f1_micro": 0.5}
    said = baseline.verdict({"f1_macro": 0.6, "f1_micro": 0.7}, base)
    assert "macro F1 0.800 against the model's 0.600" in said and "micro" not in said
    assert "try" in said
    assert baseline.verdict({"f1_macro": 0.8, "f1_micro": 0.7}, base) is None  # a tie
    assert baseline.verdict({"f1_macro": 1.0}, {"name": "b", "seconds": 0, "f1_macro": 1.0}) is None


def test_thresholds_per_label_with_enough_positives_else_the_shared_cut():
    rng = np.random.default_rng(1)
    n = 400
    y = np.zeros((n, 3))
    y[:, 0] = rng.random(n) < 0.5
    y[:, 1] = rng.random(n) < 0.1
    y[:3, 2] = 1  # three positives: too few for a cut of its own
    probs = np.clip(y * 0.3 + rng.random((n, 3)) * 0.25, 0, 1)  # positives 0.3-0.55, rest < 0.25
    probs[:, 0] += 0.4  # label 0 lives higher up
    cuts = thresholds.tune(probs, y)
    assert 0.6 <= cuts[0] < 0.7 and 0.2 <= cuts[1] < 0.3
    assert cuts[2] == thresholds.global_threshold(probs, y)
    assert all(c in thresholds.GRID for c in cuts)


def test_a_run_reports_the_baseline_and_its_splits(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(text_csv), "output_dir": str(out)}
        | {"epochs": 1, "batch_size": 8, "max_length": 16, "freeze": "backbone"}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    report = json.loads((out / "eval.json").read_text())
    base = report["baseline"]
    assert base["name"] == baseline.TEXT_NAME and 0 <= base["f1_macro"] <= 1
    assert base["train_rows"] == json.loads((out / "status.json").read_text())["train_rows"]
    assert report["report_split"] == "held out 10% of train"
    assert report["selection_split"] == "held out 10% of train for selection"
    shown = results_tab.summary(out)["text"]
    assert f"macro F1 {base['f1_macro']:.3f}" in shown and "selection never saw" in shown


def test_a_baseline_that_cannot_be_fitted_never_fails_the_run(tiny_bert, tmp_path):
    """One-letter texts leave TF-IDF no word to count: the baseline says why, the run stands."""
    rows = [{"text": "a" if i % 2 else "b", "label": "x" if i % 2 else "y"} for i in range(40)]
    data = tiny.write_csv(tmp_path / "letters.csv", rows)
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(data), "output_dir": str(out)}
        | {"epochs": 1, "batch_size": 8, "max_length": 8, "freeze": "backbone"}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    skipped = json.loads((out / "eval.json").read_text())["baseline"]
    assert skipped["name"] == baseline.TEXT_NAME and "vocabulary" in skipped["skipped"]
