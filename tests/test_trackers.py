"""report_to: a tiny run with TensorBoard and trackio leaves records that hold the same losses
as metrics.jsonl, nothing leaves the machine, and a missing tracker is one sentence."""

from __future__ import annotations

import ipaddress
import json
import signal
import sys

import pytest

from finetune_core import runs
from finetune_core.cli.commands import main
from finetune_core.config import RunConfig
from finetune_core.errors import ConfigError, DependencyError, RunError
from finetune_core.train import run as train
from finetune_core.train import trackers

TINY = {"epochs": 2, "batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3}
_CONNECTS: list = []  # every socket.connect address seen while a test watches


def _audit(event: str, args: tuple) -> None:
    if _CONNECTS and _CONNECTS[0] == "on":
        if event == "socket.connect":
            _CONNECTS.append(args[1])
        elif event == "socket.getaddrinfo":  # a name lookup is already an attempt
            _CONNECTS.append((args[0], args[1]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only while switched on


def outside_connections() -> list:
    """Addresses other than loopback and local sockets that were connected to."""
    out = []
    for address in _CONNECTS[1:]:
        if isinstance(address, tuple) and address:
            host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
            try:
                if ipaddress.ip_address(host).is_loopback:
                    continue
            except ValueError:
                if host in ("localhost", "None"):
                    continue
            out.append(address)
    return out


def config(tiny_bert, text_csv, out, **extra) -> RunConfig:
    data = {"model": str(tiny_bert), "dataset": str(text_csv), "output_dir": str(out)}
    return RunConfig.from_dict({**data, **TINY, **extra})


def test_tensorboard_and_trackio_hold_the_losses_of_metrics_jsonl(
    tiny_bert, text_csv, tmp_path, monkeypatch
):
    for var in ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    import datasets

    # datasets pings S3 (a download counter) on every local file load unless this is off; it
    # is not a tracker's doing, and would hide what this test looks for
    monkeypatch.setattr(datasets.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
    out = tmp_path / "tracked-run"
    cfg = config(tiny_bert, text_csv, out, report_to="tensorboard,trackio")
    assert cfg.report_to == ["tensorboard", "trackio"]
    _CONNECTS[:] = ["on"]
    try:
        assert train.run(cfg).state == "completed"
    finally:
        _CONNECTS[0] = "off"
    assert outside_connections() == []  # local-first: nothing reached the network

    records = runs.read_metrics(out)
    losses = {r["step"]: r["loss"] for r in records if "loss" in r}
    evals = {r["step"]: r["eval_loss"] for r in records if "eval_loss" in r}
    assert len(losses) >= 3 and len(evals) == 2

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tb_losses = {e.step: e.value for e in events.Scalars("train/loss")}
    assert tb_losses.keys() == losses.keys()
    assert all(tb_losses[s] == pytest.approx(losses[s], rel=1e-6) for s in losses)
    tb_evals = {e.step: e.value for e in events.Scalars("eval/loss")}
    assert all(tb_evals[s] == pytest.approx(evals[s], rel=1e-6) for s in evals)
    assert trackers.tensorboard_command(out) == f"tensorboard --logdir {out / 'tensorboard'}"

    import trackio
    from trackio.sqlite_storage import SQLiteStorage

    assert trackio.context_vars.current_run.get() is None  # finished: no thread logs on

    assert out.name in SQLiteStorage.get_runs(trackers.PROJECT)
    logs = SQLiteStorage.get_logs(trackers.PROJECT, out.name)
    logs = [r for r in logs if "train/global_step" in r]  # the Trainer's logs (not system ones)
    tk_losses = {r["train/global_step"]: r["train/loss"] for r in logs if "train/loss" in r}
    assert tk_losses.keys() == losses.keys()
    assert all(tk_losses[s] == pytest.approx(losses[s], rel=1e-6) for s in losses)
    tk_evals = {r["train/global_step"]: r["eval/loss"] for r in logs if "eval/loss" in r}
    assert all(tk_evals[s] == pytest.approx(evals[s], rel=1e-6) for s in evals)


def test_report_to_values_and_a_missing_tracker(tiny_bert, text_csv, tmp_path, monkeypatch, capsys):
    assert config(tiny_bert, text_csv, tmp_path).report_to == []
    assert config(tiny_bert, text_csv, tmp_path, report_to="none").report_to == []
    cfg = config(tiny_bert, text_csv, tmp_path, report_to=["trackio", "trackio", "mlflow"])
    assert cfg.report_to == ["trackio", "mlflow"]
    assert "--report-to trackio,mlflow" in cfg.cli_flags()
    assert RunConfig.from_dict(json.loads(cfg.to_json())).report_to == ["trackio", "mlflow"]
    assert trackers.tensorboard_command(tmp_path) is None
    with pytest.raises(ConfigError) as err:
        config(tiny_bert, text_csv, tmp_path, report_to=["tensorbord"])
    assert str(err.value) == (
        "report_to lists 'tensorbord' (did you mean 'tensorboard'?); the trackers are "
        "tensorboard, trackio, wandb, mlflow."
    )
    with pytest.raises(ConfigError, match="report_to must be a list of names"):
        config(tiny_bert, text_csv, tmp_path, report_to=5)

    monkeypatch.setitem(sys.modules, "trackio", None)  # as if it were not installed
    sentence = (
        "report_to trackio needs trackio, which is not installed; install it with "
        "pip install 'finetune-dashboard[tracking]'."
    )
    out = tmp_path / "run"
    with pytest.raises(DependencyError) as err:
        train.run(config(tiny_bert, text_csv, out, report_to=["trackio"]))
    assert str(err.value) == sentence
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and status["error"] == sentence
    assert not (out / "checkpoints").exists()
    flags = ["--model", str(tiny_bert), "--dataset", str(text_csv), "--report-to", "trackio"]
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = main(["train", *flags, "--output-dir", str(tmp_path / "cli"), "--quiet"])
    finally:  # `finetune train` installs its stop handlers: give pytest its own back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 1 and capsys.readouterr().err == f"error: {sentence}\n"


def test_a_hosted_dashboard_never_logs_with_the_hosts_credentials(
    tiny_bert, text_csv, tmp_path, monkeypatch
):
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    monkeypatch.delenv("TRACKIO_SPACE_ID", raising=False)
    monkeypatch.delenv("TRACKIO_SERVER_URL", raising=False)
    trackers.check(["tensorboard", "trackio"])  # local records: fine
    out = tmp_path / "run"
    with pytest.raises(ConfigError) as err:
        train.run(config(tiny_bert, text_csv, out, report_to=["tensorboard", "wandb"]))
    assert str(err.value) == (
        "report_to wandb is not available on a hosted dashboard: it would log with the "
        "host's credentials; use tensorboard or trackio (local records)."
    )
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
    monkeypatch.setenv("TRACKIO_SPACE_ID", "host/space")  # the host's trackio Space
    with pytest.raises(ConfigError, match="report_to trackio is not available"):
        trackers.check(["trackio"])
    monkeypatch.delenv("FINETUNE_HOSTED")
    trackers.check(["trackio"])  # on one's own machine the environment is one's own


class Crash(Exception):
    """A failure mid-run, after a checkpoint and a few logged steps past it."""


def test_a_resumed_run_logs_each_step_once_in_tensorboard_and_trackio(
    tiny_bert, text_csv, tmp_path, monkeypatch
):
    for var in ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "resumed-run"
    extra = {"report_to": "tensorboard,trackio", "logging_steps": 1, "save_steps": 4}
    cfg = config(tiny_bert, text_csv, out, **extra)

    def crash(step, max_steps, epoch):
        if step == 7:  # logged 1..6, checkpoint at 4: steps 5 and 6 are trained again
            raise Crash

    with pytest.raises(RunError, match="Crash"):
        train.run(cfg, on_progress=crash)
    assert runs.last_checkpoint(out).name == "checkpoint-4"
    assert train.run(None, resume_dir=out).state == "completed"

    losses = {r["step"]: r["loss"] for r in runs.read_metrics(out) if "loss" in r}
    assert sorted(losses) == list(range(1, max(losses) + 1)) and max(losses) > 7

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tb_steps = [e.step for e in events.Scalars("train/loss")]
    assert tb_steps == sorted(losses)  # each step once: the pre-crash 5 and 6 are purged
    tb_losses = {e.step: e.value for e in events.Scalars("train/loss")}
    assert all(tb_losses[s] == pytest.approx(losses[s], rel=1e-6) for s in losses)

    from trackio.sqlite_storage import SQLiteStorage

    logs = SQLiteStorage.get_logs(trackers.PROJECT, out.name)
    tk_steps = [r["train/global_step"] for r in logs if "train/loss" in r]
    assert tk_steps == sorted(losses)  # each step once, in order
    # trackio keeps its pre-crash 5 and 6: a resume restores the RNG, so they are the same
    tk_losses = {r["train/global_step"]: r["train/loss"] for r in logs if "train/loss" in r}
    assert all(tk_losses[s] == pytest.approx(losses[s], rel=1e-6) for s in losses)
