"""`finetune export --format onnx`: ONNX (and int8) for a text and an image model whose outputs
match PyTorch on the evaluation set, a README snippet that runs, and one sentence when it
cannot be done."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from finetune_core import export
from finetune_core.cli.commands import main
from finetune_core.config import RunConfig
from finetune_core.errors import DependencyError, RunError
from finetune_core.export import onnx as export_onnx
from finetune_core.train import run as train

TINY = {"epochs": 1, "batch_size": 8, "max_length": 16, "logging_steps": 4, "seed": 3}


def trained(model, dataset, out: Path) -> Path:
    cfg = RunConfig.from_dict(
        {"model": str(model), "dataset": str(dataset), "output_dir": str(out), **TINY}
    )
    assert train.run(cfg).state == "completed"
    return out


@pytest.fixture(scope="module")
def text_run(tiny_bert, text_csv, tmp_path_factory) -> Path:
    return trained(tiny_bert, text_csv, tmp_path_factory.mktemp("onnx") / "text")


def run_readme_snippet(folder: Path, monkeypatch) -> str:
    """Run the README's python block in the exported folder, as a user would; its stdout."""
    code = re.search(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S).group(1)
    monkeypatch.chdir(folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    return out.getvalue().strip()


def test_text_model_exports_with_parity_and_int8_beside_it(text_run, capsys, monkeypatch):
    assert main(["export", str(text_run), "--format", "onnx", "--quantize", "int8"]) == 0
    printed = capsys.readouterr().out
    folder = text_run / "onnx"
    report = json.loads((folder / "export.json").read_text())
    assert report["task"] == "text" and report["tolerance"] == export_onnx.TOLERANCE
    assert report["examples"] == report["eval_examples"] == 6
    floats, int8 = report["variants"]
    assert (floats["name"], floats["file"], int8["name"], int8["file"]) == (
        "float32",
        "model.onnx",
        "int8",
        "model_int8.onnx",
    )
    assert floats["max_abs_diff"] <= export_onnx.TOLERANCE and floats["agreement"] == 1.0
    assert floats["accuracy"] == report["pytorch_accuracy"]
    evaluated = json.loads((text_run / "eval.json").read_text())
    assert report["pytorch_accuracy"] == pytest.approx(evaluated["accuracy"])
    assert int8["size_bytes"] < floats["size_bytes"] == (folder / "model.onnx").stat().st_size
    assert 0 <= int8["accuracy"] <= 1 and 0 <= int8["agreement"] <= 1
    # the printed figures: the summary, one row per model, where the snippet is
    assert "checked on 6 of 6 evaluation examples" in printed
    assert re.search(r"^float32 .* 100\.0% ", printed, re.M) and "\nint8 " in printed
    assert f"use it: {folder / 'README.md'}" in printed

    # parity checked here independently of the exporter's own check: new, unseen inputs
    texts = ["good great love", "the worst boring chair and a sad river", "table"]
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(text_run / "model")).eval()
    batch = tok(texts, padding=True, return_tensors="np")
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    onnx_logits = session.run(None, {k: v for k, v in batch.items() if k in names})[0]
    with torch.inference_mode():
        torch_logits = model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits.numpy()
    assert np.abs(onnx_logits - torch_logits).max() <= export_onnx.TOLERANCE

    labels = json.loads((folder / "config.json").read_text())["id2label"].values()
    assert run_readme_snippet(folder, monkeypatch) in labels
    assert "model_int8.onnx" in (folder / "README.md").read_text()
    with __import__("zipfile").ZipFile(export.zip_onnx(text_run)) as archive:
        assert {"model.onnx", "model_int8.onnx", "README.md"} <= set(archive.namelist())


def test_image_model_exports_with_parity(tiny_vit, image_folder, tmp_path, monkeypatch):
    run_dir = trained(tiny_vit, image_folder, tmp_path / "image")
    result = export.export_onnx(run_dir, quantize="int8")
    folder = run_dir / "onnx"
    assert result.task == "image" and result.folder == folder
    assert [v.name for v in result.variants] == ["float32", "int8"]
    assert result.variants[0].max_abs_diff <= export_onnx.TOLERANCE
    assert json.loads((folder / "export.json").read_text()) == result.to_dict()
    assert (folder / "preprocessor_config.json").exists()
    shutil.copy(next(image_folder.glob("red/*.png")), folder / "your-image.png")
    labels = json.loads((folder / "config.json").read_text())["id2label"].values()
    assert run_readme_snippet(folder, monkeypatch) in labels


def test_a_missing_export_extra_is_one_sentence(text_run, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(text_run, run_dir, ignore=shutil.ignore_patterns("onnx"))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert main(["export", str(run_dir), "--format", "onnx"]) == 1
    assert capsys.readouterr().err == (
        "error: ONNX export needs onnxruntime, which is not installed; install it with "
        "pip install 'finetune-dashboard[export]'.\n"
    )
    assert not (run_dir / "onnx").exists()
    with pytest.raises(DependencyError):
        export.export_onnx(run_dir)


def test_refusals_leave_nothing_behind(text_run, tmp_path, monkeypatch, capsys):
    assert main(["export", str(tmp_path), "--format", "onnx"]) == 1
    assert "no saved model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(text_run), "--format", "tflite"])
    assert exit_.value.code == 2
    with pytest.raises(RunError, match="max_examples must be at least 1"):
        export.export_onnx(text_run, max_examples=-1)
    # outputs outside the tolerance: the export is refused and nothing is kept
    run_dir = tmp_path / "run"
    shutil.copytree(text_run, run_dir, ignore=shutil.ignore_patterns("onnx"))
    monkeypatch.setattr(export_onnx, "TOLERANCE", -1.0)
    with pytest.raises(RunError, match=r"differ from PyTorch's by up to .* it was not kept"):
        export.export_onnx(run_dir, max_examples=2)
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        p.name for p in text_run.iterdir() if p.name != "onnx"
    )


def test_the_results_page_exports_onnx_and_shows_the_tensorboard_command(
    tiny_bert, text_csv, tmp_path, monkeypatch
):
    import time
    import zipfile

    from test_ui_handlers import wait_action

    from finetune_core.jobs.manager import MANAGER
    from finetune_core.ui import results_tab

    owner = "ec05c0de111111111111111111111111"  # an id as the page issues them (32 hex digits)
    out = tmp_path / "page-run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(text_csv), "output_dir": str(out), **TINY}
    )
    job = MANAGER.start(cfg.with_overrides({"report_to": ["tensorboard"]}), owner)
    deadline = time.monotonic() + 120
    while MANAGER.get(job.id, owner).state != "finished":
        assert time.monotonic() < deadline, "run did not finish"
        time.sleep(0.2)

    text = results_tab.summary(results_tab.run_dir_of(owner, job.id))["text"]
    assert f"TensorBoard logs: `tensorboard --logdir {out / 'tensorboard'}`" in text

    action_id, note = results_tab.onnx(owner, job.id, True)
    assert action_id and "Exporting to ONNX" in note  # queued: never inside the page's event
    archive, note, _ = wait_action(owner, "onnx", action_id)
    assert "checked on 6 of 6 evaluation examples" in note and "<pre>model" in note
    with zipfile.ZipFile(archive) as zipped:
        assert {"model.onnx", "model_int8.onnx", "export.json"} <= set(zipped.namelist())
    monkeypatch.setenv("FINETUNE_HOSTED", "1")  # hosted for others: a run is its owner's alone
    refused_id, refused = results_tab.onnx("an-intruder", job.id, True)
    assert refused_id is None and "Train a model first." in refused
