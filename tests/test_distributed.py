"""Several processes on CPU (DDP over gloo): torchrun, accelerate launch, and the dashboard's
subprocess jobs (jobs/launcher.py + jobs/manager.py) with stop and resume.

Each run must leave ONE consistent run dir written by the main process: metrics lines once,
eval.json counting every evaluation example exactly once (no DistributedSampler padding
counted twice), and the logged loss the true mean rather than a sum over the processes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import tiny
from cli_run import wait_for

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.jobs.launcher import free_port
from finetune_core.jobs.manager import JobManager
from finetune_core.train import run as train

TRAIN_ROWS, EVAL_ROWS = 48, 13  # 13: odd, so two ranks need a padded duplicate to evaluate
BATCH, WORLD = 4, 2
STEPS_PER_EPOCH = math.ceil(TRAIN_ROWS / (BATCH * WORLD))  # 6 with two processes, 12 with one


def env() -> dict:
    return {**os.environ, "FINETUNE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def run(cmd: list, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ddp-data")
    tiny.write_csv(folder / "train.csv", tiny.text_rows(TRAIN_ROWS))
    tiny.write_csv(folder / "test.csv", tiny.text_rows(EVAL_ROWS, seed=7))
    return folder


def config(tiny_bert, dataset, out: Path, **extra) -> dict:
    return {
        "model": str(tiny_bert),
        "dataset": str(dataset),
        "epochs": 1,
        "batch_size": BATCH,
        "max_length": 16,
        "logging_steps": 1,
        "seed": 5,
        "output_dir": str(out),
        **extra,
    }


def config_file(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def check_one_consistent_run_dir(out: Path, epochs: int = 1) -> list[dict]:
    """What every multi-process run must leave; returns the training lines."""
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "completed" and status["error"] is None
    # two processes share each epoch: half the steps of a single process
    assert status["step"] == status["max_steps"] == STEPS_PER_EPOCH * epochs

    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines)), "a metrics line was written twice"
    records = [json.loads(line) for line in lines]
    training = [r for r in records if "loss" in r]
    steps = [r["step"] for r in training]
    assert steps == list(range(1, status["max_steps"] + 1))  # once each, strictly increasing
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in evals] == [STEPS_PER_EPOCH * (e + 1) for e in range(epochs)]
    ends = [r for r in records if "event" in r]
    assert ends == [records[-1]] and ends[0]["state"] == "completed"

    report = json.loads((out / "eval.json").read_text())
    assert report["num_examples"] == EVAL_ROWS
    assert sum(map(sum, report["confusion_matrix"])) == EVAL_ROWS
    assert sum(c["support"] for c in report["per_class"].values()) == EVAL_ROWS
    assert (out / "model" / "model.safetensors").is_file()
    assert not (out / "error.log").exists()
    return training


def check_two_ranks_printed_once(result: subprocess.CompletedProcess, out: Path) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    done = [line for line in result.stdout.splitlines() if line.startswith("done: accuracy")]
    assert len(done) == 1 and done[0].endswith(f"run folder {out}"), result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def single_process_first_loss(tiny_bert, dataset, tmp_path_factory) -> float:
    """Step-1 loss of the same config, seed and data in one process (this one)."""
    out = tmp_path_factory.mktemp("single") / "run"
    result = train.run(RunConfig.from_dict(config(tiny_bert, dataset, out)))
    assert result.state == "completed"
    training = [r for r in runs.read_metrics(out) if "loss" in r]
    assert training[0]["step"] == 1
    return training[0]["loss"]


def test_torchrun_two_processes_write_one_consistent_run_dir(
    tiny_bert, dataset, tmp_path, single_process_first_loss
):
    out = tmp_path / "run"
    cfg = config_file(tmp_path / "run.json", config(tiny_bert, dataset, out))
    result = run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         str(WORLD), "-m", "finetune_core", "train", "--config", cfg, "--quiet"]
    )  # fmt: skip
    check_two_ranks_printed_once(result, out)
    training = check_one_consistent_run_dir(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.json"]

    # the logged loss is the mean over both ranks, not their sum (x world size)
    first = training[0]["loss"]
    assert first == pytest.approx(single_process_first_loss, rel=0.3)
    assert first < 1.5 * math.log(3)  # a fresh 3-class head starts near ln 3


def test_accelerate_launch_multi_gpu_gives_two_processes_on_cpu(tiny_bert, dataset, tmp_path):
    out = tmp_path / "run"
    cfg = config_file(tmp_path / "run.json", config(tiny_bert, dataset, out))
    result = run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
         str(WORLD), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "--main_process_port", free_port(), "-m", "finetune_core", "train", "--config", cfg,
         "--quiet"]
    )  # fmt: skip
    check_two_ranks_printed_once(result, out)
    check_one_consistent_run_dir(out)


def _tree(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_job_subprocess_stop_ends_every_process_then_resume_completes(tiny_bert, dataset, tmp_path):
    out = tmp_path / "run"
    epochs = 20
    cfg = RunConfig.from_dict(config(tiny_bert, dataset, out, epochs=epochs))
    manager = JobManager(max_concurrent=1)
    job = manager.start(cfg, "owner", processes=WORLD)
    tree: list[psutil.Process] = []
    try:
        assert job.process is not None, "a multi-process job runs as a launcher subprocess"
        seen = wait_for(
            lambda: (
                bool([r for r in runs.read_metrics(out) if "loss" in r])
                or job.process.poll() is not None
            ),
            300,
        )
        assert seen and job.process.poll() is None, (out / "launcher.log").read_text()[-3000:]
        tree = _tree(job.process.pid)
        workers = [p for p in tree if "finetune_core" in " ".join(p.cmdline()) and p != tree[0]]
        assert len(workers) >= WORLD, [p.cmdline() for p in tree]
        # the trainer's own pid, so liveness watches training, not the dashboard (this test)
        assert runs.RunDir(out).read_status()["pid"] in {p.pid for p in workers}
        assert all("--start" in p.cmdline() for p in workers)  # a start, not a resume
        assert manager.stop(job.id, "owner")
        job.thread.join(timeout=180)
    finally:
        if job.process is not None and job.process.poll() is None:
            from finetune_core.jobs.launcher import kill_tree

            kill_tree(job.process)
    log = (out / "launcher.log").read_text()
    assert not job.thread.is_alive(), log[-3000:]
    assert job.state == "finished" and job.process.returncode is not None
    leftover = [p for p in tree if not _gone(p)]
    assert not leftover, [(p.pid, p.cmdline()) for p in leftover]

    view = runs.read_run(out)
    assert view.state == "stopped", (view.status, log[-3000:])
    stopped_at = view.status.step
    assert 0 < stopped_at < STEPS_PER_EPOCH * epochs
    checkpoint = runs.last_checkpoint(out)
    assert checkpoint is not None and checkpoint.name == f"checkpoint-{stopped_at}"
    assert (out / "model" / "model.safetensors").is_file()
    assert view.metrics[-1]["event"] == "end" and view.metrics[-1]["state"] == "stopped"

    # resume in one process from the checkpoint saved at the stop
    result = run([sys.executable, "-m", "finetune_core", "train", "--resume", out, "--quiet"])
    assert result.returncode == 0, result.stderr[-3000:]
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == status["max_steps"]
    records = runs.read_metrics(out)
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == sorted(set(steps)), "a step was logged twice or went back"
    assert steps[:stopped_at] == list(range(1, stopped_at + 1))
    assert steps[stopped_at] == stopped_at + 1 and steps[-1] == status["max_steps"]
    ends = [r for r in records if "event" in r]
    assert ends == [records[-1]] and ends[0]["state"] == "completed"
    assert json.loads((out / "eval.json").read_text())["num_examples"] == EVAL_ROWS
