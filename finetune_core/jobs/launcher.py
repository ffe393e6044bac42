"""Multi-process jobs: `accelerate launch ... -m finetune_core train --start RUN_DIR`.

The job's run dir already holds the request and status "queued", so the subprocess
starts that run (a start, not a resume: it refuses a folder that is not queued) and writes the
same files a thread run writes; the dashboard cannot tell the two apart. The child's main
process records its own pid in status.json, so liveness watches the trainer, not the
dashboard. The token travels in the child's environment only; hosted, that environment is
built from an allowlist (visitor_env.py) and every visitor job runs as a child. The child runs
in its own process group so Stop can end the whole tree if the graceful stop file is ignored.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from finetune_core import runs
from finetune_core.errors import RunError

GRACE_SECONDS = 60
# keys of which an accelerate config (`accelerate config` writes it) has at least one
ACCELERATE_KEYS = {"compute_environment", "distributed_type", "num_processes", "mixed_precision"}


def check_accelerate_config(path: str) -> None:
    """Refuse, before anything is created, a path that is not an accelerate config file."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise RunError(f"Accelerate config {path} does not exist; give the file's path.")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")[:100_000])
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict) or not ACCELERATE_KEYS & set(data):
        raise RunError(
            f"{path} is not an accelerate config (YAML or JSON with distributed_type, "
            "num_processes...); create one with `accelerate config`."
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(
    run_dir: Path, processes: int, accelerate_config: str | None = None, resume: bool = False
) -> list[str]:
    """The launcher line; several processes use DDP (gloo on CPU, NCCL on GPUs). A resumed
    job continues its run (`--resume`), a new one starts the run it queued (`--start`)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config:
        cmd += ["--config_file", accelerate_config]
    else:
        cmd += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no"]
    cmd += ["--num_processes", str(processes), "--main_process_port", str(free_port())]
    return cmd + single_command(run_dir, resume)[1:]  # the same `-m finetune_core train ...`


def single_command(run_dir: Path, resume: bool = False) -> list[str]:
    """One training process (a hosted visitor's run: its own process, see visitor_env.py);
    a resumed run continues its folder from the last checkpoint."""
    how = "--resume" if resume else "--start"
    return [sys.executable, "-m", "finetune_core", "train", how, str(run_dir), "--quiet"]


def start_process(job, cmd: list[str] | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start the job's child: the accelerate line by default. Hosted, its environment is the
    visitor's (visitor_env.py); locally the user's own, with the job's token as HF_TOKEN."""
    from finetune_core.jobs import visitor_env

    if visitor_env.isolated():
        job.private_dir = job.private_dir or visitor_env.private_dir()
        trackio = runs.RunDir(job.run_dir).trackio_dir if job.action is None else None
        env = visitor_env.build(job.token, job.private_dir, trackio)
    else:
        env = dict(os.environ)
        env.pop("HF_TOKEN", None)
        if job.token:
            env["HF_TOKEN"] = job.token
        env.setdefault("OMP_NUM_THREADS", "1")
    cmd = cmd or command(Path(job.run_dir), job.processes, job.accelerate_config, job.resume)
    # the child gets its own copy of the log's descriptor; the server's is closed at once
    with open(log or runs.RunDir(job.run_dir).launcher_log_path, "ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def wait_process(job) -> str | None:
    """Wait for the child; escalate to SIGTERM/SIGKILL of its group after a stop request."""
    proc: subprocess.Popen = job.process
    while True:
        try:
            code = proc.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            if job.stop_event.is_set():
                code = _stop_gracefully(job, proc)
                break
    writer = runs.RunWriter(job.run_dir)
    status = writer.read()  # as written: the child is gone, so liveness would say interrupted
    if status.active:  # it died without a word: the final status and the end line, together
        error = job.limit_reason or (
            f"the training processes exited with code {code} at {status.reached()}"
        )
        writer.finish("failed", error)
        return error
    return status.error if code else None


def _stop_gracefully(job, proc: subprocess.Popen) -> int:
    """Ask the child to stop and wait GRACE_SECONDS before ending its tree. The request is
    renewed each second: a child still starting clears a stop file it finds (a new run's
    leftover), and a stop asked for then must not be lost."""
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        runs.request_stop(job.run_dir, job.limit_reason)
        try:
            return proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            continue
    kill_tree(proc)
    return proc.wait()


def kill_tree(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue
