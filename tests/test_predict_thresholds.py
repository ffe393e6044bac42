"""One decision rule everywhere a model predicts, and predictions that agree with eval.json.

Invariants: a multi-label run's decision is "probability above the label's threshold", the
thresholds being model/config.json's `label_thresholds` when stored, else the run's
`threshold`; `finetune predict`, the page's playground, the model card's pipeline snippet and
the ONNX README's snippet all apply it (each is run here, the snippets executed as a user would).
Predicting a run's own evaluation rows gives back eval.json's numbers, single- and multi-label.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import predict_runs
import pytest
from predict_runs import data_dir, multi_run, text_run

from finetune_core import predict
from finetune_core.cli.commands import main
from finetune_core.errors import RunError
from finetune_core.predict.file import predict_file
from finetune_core.ui import queued

LABELS = ["neg", "neu", "pos"]
PROBES = ["great superb table river", "awful hate", "table chair window", "good bad stone"]


@pytest.fixture(scope="module")
def multi(tiny_bert, tmp_path_factory) -> Path:
    return multi_run(tiny_bert, tmp_path_factory)


@pytest.fixture(scope="module")
def single(tiny_bert, tmp_path_factory) -> Path:
    return text_run(tiny_bert, tmp_path_factory)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def predict_rows(run: Path, source: Path, tmp_path: Path) -> list[dict]:
    out = tmp_path / f"{source.stem}-predictions.jsonl"
    assert main(["predict", str(run), "--input", str(source), "--output", str(out)]) == 0
    return read_jsonl(out)


def playground_labels(run: Path, text: str) -> list[str]:
    """The labels the playground's message names as on."""
    probs, note = queued.playground(run, text, None)
    assert probs is not None and "Labels on:" in note, note
    shown = note.split("Labels on:", 1)[1]
    return [n for n in LABELS if f"{n} (over" in shown]


def exec_snippet(code: str, folder: Path | None = None) -> str:
    """Run a README's python block as a user would; what it prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.chdir(folder or Path.cwd()):
        exec(compile(code, "README.md", "exec"), {})
    return out.getvalue().strip()


def python_block(readme: Path) -> str:
    return re.search(r"```python\n(.*?)```", readme.read_text(), re.S).group(1)


def with_thresholds(run: Path, dest: Path, stored: dict | None, threshold: float | None = None):
    """A copy of `run` whose model stores `stored` as label_thresholds (None: none stored, as
    a model trained before they were) and whose config.json says `threshold`."""
    shutil.copytree(run, dest)
    model_cfg = json.loads((dest / "model" / "config.json").read_text())
    model_cfg.pop(predict.THRESHOLDS_KEY, None)
    if stored is not None:
        model_cfg[predict.THRESHOLDS_KEY] = stored
    (dest / "model" / "config.json").write_text(json.dumps(model_cfg, indent=2))
    if threshold is not None:
        cfg = json.loads((dest / "config.json").read_text())
        (dest / "config.json").write_text(json.dumps(cfg | {"threshold": threshold}))
    return dest


# ---- the rule ---------------------------------------------------------------------------
def test_the_rule_of_a_run(multi, single, tmp_path):
    # the training run tuned a cut per label on its selection split and stored it with the model
    rule = predict.thresholds(multi)
    report = json.loads((multi / "eval.json").read_text())
    assert rule.multi_label and rule.labels == tuple(LABELS)
    assert rule.by_label == report["thresholds"] and set(rule.by_label) == set(LABELS)
    assert report["thresholds_from"] == "tuned on the selection split"
    rule = predict.thresholds(with_thresholds(multi, tmp_path / "older", None))  # none stored
    assert rule.by_label == {}
    assert rule.default == 0.5 and rule.decide({"neg": 0.5, "neu": 0.51, "pos": 0.9}) == [
        "neu",
        "pos",
    ]  # strictly above, as eval.json counts
    assert not predict.thresholds(single).multi_label
    assert predict.thresholds(single).decide({"neg": 0.2, "neu": 0.5, "pos": 0.3}) == "neu"
    bad = {
        "a number": 0.3,
        "a word": {"neg": "high"},
        "above one": {"neg": 1.5},
        "a stranger": {"joy": 0.3},
    }
    for i, (what, stored) in enumerate(bad.items()):
        copy = with_thresholds(multi, tmp_path / f"bad{i}", stored)
        with pytest.raises(RunError, match=predict.THRESHOLDS_KEY) as err:
            predict.thresholds(copy)
        assert "\n" not in str(err.value), what
        probs, note = queued.playground(copy, "good", None)
        assert probs is None and predict.THRESHOLDS_KEY in note, what
    assert "names labels the model does not have (joy)" in str(err.value)


def flipped(scores: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Thresholds that turn every label of `scores` the other way, and the labels then on."""
    stored = {n: (p + 1) / 2 if p > 0.5 else p / 2 for n, p in scores.items()}
    return stored, [n for n in LABELS if scores[n] <= 0.5]


def test_stored_thresholds_change_every_surface(multi, tmp_path, monkeypatch):
    text = PROBES[0]
    before = predict.predict(multi, text)
    stored, want = flipped(before)
    assert want != predict.thresholds(multi).decide(before)  # the stored ones matter
    tuned = with_thresholds(multi, tmp_path / "tuned", stored)
    # finetune predict, on a file holding the probe among others
    source = tmp_path / "probes.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in PROBES))
    records = predict_rows(tuned, source, tmp_path)
    assert records[0]["prediction"] == want
    assert records[0]["scores"] == pytest.approx(before, rel=1e-5)
    # the page's playground
    assert playground_labels(tuned, text) == want
    # the model card's pipeline snippet, as written when the run trained
    code = python_block(tuned / "model" / "README.md")
    code = code.replace("path/or/hub-id/of/this/model", str(tuned / "model"))
    assert exec_snippet(code.replace("Type your text here", text)) == repr(want)
    # the ONNX export's README snippet, in the exported folder
    from finetune_core.export import export_onnx

    export_onnx(tuned)
    onnx_code = python_block(tuned / "onnx" / "README.md").replace("Type your text here", text)
    assert exec_snippet(onnx_code, tuned / "onnx") == repr(want)
    # and the run without them still decides at 0.5 on every surface
    plain = predict.thresholds(multi).decide(before)
    assert playground_labels(multi, text) == plain
    original = python_block(multi / "model" / "README.md")
    original = original.replace("path/or/hub-id/of/this/model", str(multi / "model"))
    assert exec_snippet(original.replace("Type your text here", text)) == repr(plain)


def test_the_runs_threshold_applies_where_none_is_stored(multi, tmp_path):
    from finetune_core.config import RunConfig
    from finetune_core.train.model_card import usage

    scores = [predict.predict(multi, t) for t in PROBES]
    high = 0.9  # above it only the most certain labels stay on
    copy = with_thresholds(multi, tmp_path / "strict", None, threshold=high)
    want = [[n for n in LABELS if s[n] > high] for s in scores]
    assert want != [predict.thresholds(multi).decide(s) for s in scores]
    source = tmp_path / "probes.csv"
    source.write_text("text\n" + "\n".join(PROBES) + "\n")
    assert [r["prediction"] for r in predict_rows(copy, source, tmp_path)] == want
    assert [playground_labels(copy, t) for t in PROBES] == want
    # the card written for a run trained with that threshold says it
    saved = json.loads((multi / "config.json").read_text())
    cfg = RunConfig.from_dict(saved | {"threshold": high})
    code = "\n".join(usage("text-classification", cfg))
    code = code.replace("path/or/hub-id/of/this/model", str(copy / "model"))  # none stored
    for text, labels in zip(PROBES, want, strict=True):
        assert exec_snippet(code.replace("Type your text here", text)) == repr(labels)


# ---- predict, the playground and eval.json agree ------------------------------------------
def test_single_label_predictions_agree_with_eval_json(single, tmp_path):
    source = data_dir(single) / "test.csv"
    with source.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    records = predict_rows(single, source, tmp_path)
    report = json.loads((single / "eval.json").read_text())
    assert report["num_examples"] == len(rows) == len(records)
    names = report["label_names"]
    matrix = np.zeros((len(names), len(names)), dtype=int)
    for row, record in zip(rows, records, strict=True):
        matrix[names.index(row["label"]), names.index(record["prediction"])] += 1
    assert matrix.tolist() == report["confusion_matrix"]
    assert np.trace(matrix) / len(rows) == pytest.approx(report["accuracy"])
    assert len({r["prediction"] for r in records}) >= 2  # a model that tells classes apart
    for mistake in report["most_confident_mistakes"]:
        record = records[mistake["index"]]
        assert rows[mistake["index"]]["text"] == mistake["input"]
        assert record["prediction"] == mistake["predicted"] != mistake["true"]
        assert record["scores"][mistake["predicted"]] == pytest.approx(
            mistake["confidence"], rel=1e-4
        )
    for row, record in list(zip(rows, records, strict=True))[:8]:
        probs, note = queued.playground(single, row["text"], None)
        assert note == "" and probs == pytest.approx(record["scores"], rel=1e-4, abs=1e-6)


def test_multi_label_predictions_agree_with_eval_json(multi, tmp_path):
    source = data_dir(multi) / "test.jsonl"
    rows = read_jsonl(source)
    records = predict_rows(multi, source, tmp_path)
    report = json.loads((multi / "eval.json").read_text())
    assert report["num_examples"] == len(rows) == len(records)
    counts = {n: {"tp": 0, "fp": 0, "fn": 0, "tn": 0} for n in report["label_names"]}
    exact = 0
    for row, record in zip(rows, records, strict=True):
        assert isinstance(record["prediction"], list)
        exact += sorted(row["labels"]) == sorted(record["prediction"])
        for name in counts:
            truth, guess = name in row["labels"], name in record["prediction"]
            key = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}[(truth, guess)]
            counts[name][key] += 1
    for name, c in counts.items():
        assert {k: report["per_class"][name][k] for k in c} == c, name
    assert exact / len(rows) == pytest.approx(report["accuracy"])
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in ("tp", "fp", "fn"))
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(report["f1_micro"])
    for row, record in list(zip(rows, records, strict=True))[:8]:
        assert playground_labels(multi, row["text"]) == record["prediction"]


# ---- the Results step -------------------------------------------------------------------
def test_the_results_step_predicts_an_upload(single, tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_HOSTED", "1")  # a visitor: only their upload is read
    monkeypatch.setenv("FINETUNE_UPLOADS_DIR", str(tmp_path / "uploads"))
    gradio_cache = tmp_path / "gradio" / "reviews.csv"  # where gradio keeps an upload
    gradio_cache.parent.mkdir()
    gradio_cache.write_text("text\ngood great love\nawful hate\n", encoding="utf-8")
    path, note = predict_runs.predict_upload(single, gradio_cache, True)
    assert path and Path(path).name == "reviews-predictions.csv" and "Predicted 2 rows" in note
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "prediction,score_neg,score_neu,score_pos" and len(lines) == 3
    assert list((tmp_path / "uploads").iterdir()) == []  # the upload's copy is gone
    path, note = predict_runs.predict_upload(single, gradio_cache, False)
    assert [r["prediction"] for r in read_jsonl(Path(path))] == [
        r.prediction for r in predict.classify(single, ["good great love", "awful hate"])
    ]
    bad = tmp_path / "gradio" / "notes.txt"
    bad.write_text("hello")
    assert predict_runs.predict_upload(single, bad, False)[0] is None
    empty = tmp_path / "gradio" / "empty.csv"
    empty.write_text("")
    path, note = predict_runs.predict_upload(single, empty, False)
    assert path is None and "empty.csv is empty" in note
    assert "Train a model first" in predict_runs.predict_upload(None, gradio_cache, False)[1]
    # the engine itself refuses a visitor's path outside the uploads
    with pytest.raises(Exception, match="Local paths are not available"):
        predict_file(single, gradio_cache, tmp_path / "out.jsonl")
