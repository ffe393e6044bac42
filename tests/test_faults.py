"""Faults lose nothing: divergence, memory guard, torn metrics, unwritable run dir, tokens."""

import json
import socket

import pytest

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RunError
from finetune_core.train import run as train

FAST = {"batch_size": 8, "max_length": 16, "logging_steps": 1, "seed": 1}


def cfg_for(model, data, out, **change):
    return RunConfig.from_dict(
        {"model": str(model), "dataset": str(data), "output_dir": str(out), **FAST, **change}
    )


def test_divergence_stops_with_a_reason(tiny_bert, text_csv, tmp_path):
    """A checkpoint with an infinite weight: the loss is NaN from the first step."""
    import torch
    from transformers import AutoModelForMaskedLM

    broken = tmp_path / "broken-model"
    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    with torch.no_grad():
        model.bert.encoder.layer[1].output.dense.weight[0, 0] = float("inf")
    model.save_pretrained(broken)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (tiny_bert / name).exists():
            (broken / name).write_bytes((tiny_bert / name).read_bytes())
    out = tmp_path / "run"
    with pytest.raises(RunError, match="Training diverged: the loss became nan at step 1"):
        train.run(cfg_for(broken, text_csv, out, freeze="none", epochs=2, save_steps=1))
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "lower the learning rate" in status["error"]
    assert runs.last_checkpoint(out) is None and not (out / "model").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    """Mid-run: the step whose loss is NaN stops training and is not checkpointed."""
    from types import SimpleNamespace

    from finetune_core.train.callbacks import RunDirCallback

    cb = RunDirCallback(runs.RunWriter(tmp_path))
    state = SimpleNamespace(global_step=7, epoch=0.5)
    control = SimpleNamespace(should_training_stop=False, should_save=True)
    cb.on_log(None, state, control, logs={"loss": 0.7})
    assert not control.should_training_stop and control.should_save
    cb.on_log(None, state, control, logs={"loss": float("inf")})
    assert control.should_training_stop and not control.should_save
    assert cb.diverged_at == 7
    assert runs.read_metrics(tmp_path)[-1]["loss"] == "inf"


def test_host_memory_guard_fails_cleanly_and_the_next_run_works(
    tiny_bert, text_csv, tmp_path, monkeypatch
):
    monkeypatch.setenv("FINETUNE_MAX_RSS_GB", "0.01")
    out = tmp_path / "oom"
    with pytest.raises(FinetuneError) as err:
        train.run(cfg_for(tiny_bert, text_csv, out, epochs=1))
    assert "Out of memory" in str(err.value) and "smaller batch_size" in str(err.value)
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
    monkeypatch.delenv("FINETUNE_MAX_RSS_GB")
    assert train.run(cfg_for(tiny_bert, text_csv, tmp_path / "next", epochs=1)).state == "completed"


def test_torn_metrics_line_is_skipped(tmp_path):
    rd = runs.RunDir(tmp_path)
    rd.append_line(rd.metrics_path, {"step": 1, "loss": 1.0})
    rd.append_line(rd.metrics_path, {"step": 2, "loss": 0.9})
    with rd.metrics_path.open("a") as f:
        f.write('{"step": 3, "lo')  # the process died mid-write
    assert [r["step"] for r in runs.read_metrics(tmp_path)] == [1, 2]
    tail = runs.MetricsTail(tmp_path)
    assert len(tail.read()) == 2
    with rd.metrics_path.open("a") as f:
        f.write('ss": 0.8}\n')  # (a live writer finishing the line is picked up whole)
    assert [r["step"] for r in tail.read()] == [1, 2, 3]


def test_unwritable_output_dir_is_a_clear_failure(tiny_bert, text_csv, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunError, match="is not writable"):
        train.run(cfg_for(tiny_bert, text_csv, blocker / "run", epochs=1))


def test_a_dead_run_is_reported_interrupted(tmp_path):
    rd = runs.RunDir(tmp_path)
    status = runs.RunStatus(state="running", step=7, max_steps=20, pid=2**22 + 12345)
    rd.write_json(rd.status_path, status.with_(host=socket.gethostname()).to_dict())
    view = runs.read_run(tmp_path)
    assert view.state == "interrupted" and "interrupted at step 7 of 20" in view.status.error


def test_no_file_a_run_writes_contains_the_token(tiny_bert, text_csv, tmp_path, monkeypatch):
    secret = "hf_secretTOKENvalue1234567890"
    monkeypatch.setenv("HF_TOKEN", secret)
    out = tmp_path / "run"
    train.run(cfg_for(tiny_bert, text_csv, out, epochs=1), token=secret)
    bad = tmp_path / "bad"
    with pytest.raises(FinetuneError) as err:
        train.run(cfg_for(tiny_bert, "tests-org/no-such-dataset", bad, epochs=1), token=secret)
    assert secret not in str(err.value)
    assert train.redact(f"header Bearer {secret} end", None) == "header Bearer *** end"
    for folder in (out, bad):
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
