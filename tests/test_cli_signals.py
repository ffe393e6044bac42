"""`finetune train` interrupted as a person interrupts it: killed (the run is reported
interrupted and `--resume` continues it step for step) and stopped with SIGTERM (a graceful
stop, exit code 3, a checkpoint and the model so far)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import tiny
from cli_run import finetune, loss_steps, start, wait_for, write_config

from finetune_core import runs

SMALL = {"batch_size": 8, "max_length": 16, "seed": 3}


def local_config(path: Path, tiny_bert: Path, text_csv: Path, **extra) -> Path:
    data = {"model": str(tiny_bert), "dataset": str(text_csv), **SMALL, **extra}
    return write_config(path, data)


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory) -> Path:
    """400 rows: 45 steps an epoch, so a run is long enough to interrupt yet quick to finish."""
    return tiny.write_csv(tmp_path_factory.mktemp("long") / "long.csv", tiny.text_rows(400))


def test_killed_run_is_reported_interrupted_and_resume_continues(tiny_bert, long_csv, tmp_path):
    cfg = local_config(
        tmp_path / "run.yaml", tiny_bert, long_csv, epochs=7, save_steps=20, logging_steps=1
    )
    out = tmp_path / "run"
    proc = start("train", "--config", cfg, "--output-dir", out, "--quiet", log=tmp_path / "log")
    try:
        seen = wait_for(lambda: runs.last_checkpoint(out) is not None, 180, proc)
        assert proc.poll() is None, (tmp_path / "log").read_text()
        assert seen, "no checkpoint appeared"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    checkpoint = int(runs.last_checkpoint(out).name.split("-")[1])

    view = runs.read_run(out)
    assert view.state == "interrupted" and view.status.resumable
    assert f"interrupted at step {view.status.step} of" in view.status.error
    assert checkpoint < max(loss_steps(out)) + 1 < view.status.max_steps  # killed mid-run
    assert not any(r.get("event") == "end" for r in view.metrics)

    result = finetune("train", "--resume", out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "done: accuracy" in result.stdout
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == status["max_steps"]
    steps = loss_steps(out)
    # logging every step: each step logged exactly once, none restarted after the resume
    assert steps == list(range(1, status["max_steps"] + 1))
    records = runs.read_metrics(out)
    ends = [r for r in records if "event" in r]
    assert ends == [records[-1]] and ends[0]["state"] == "completed"
    times = [r["time"] for r in records if "loss" in r]
    assert times == sorted(times)
    assert runs.read_run(out).state == "completed"


def test_sigterm_stops_gracefully_with_exit_code_3(tiny_bert, long_csv, tmp_path):
    cfg = local_config(tmp_path / "run.yaml", tiny_bert, long_csv, epochs=20, logging_steps=1)
    out = tmp_path / "run"
    log = tmp_path / "log"
    proc = start("train", "--config", cfg, "--output-dir", out, "--quiet", log=log)
    try:
        assert wait_for(lambda: bool(loss_steps(out)), 180, proc), log.read_text()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert code == 3, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text and f"resume with: finetune train --resume {out}" in text
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "stopped" and status["error"] is None
    assert 0 < status["step"] < status["max_steps"]
    assert (out / "model" / "model.safetensors").is_file()
    assert (out / "model" / "config.json").is_file()
    assert runs.read_metrics(out)[-1] == {
        **runs.read_metrics(out)[-1],
        "event": "end",
        "state": "stopped",
    }
    assert runs.last_checkpoint(out) is not None  # a checkpoint to resume from
