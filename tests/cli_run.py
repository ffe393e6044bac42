"""Running `finetune` as a person does, in a child process with the test environment
(HF_ENDPOINT points at the loopback fake Hub), and reading what it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from finetune_core import runs


def cli_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "FINETUNE_NUM_THREADS": "1"}
    env.pop("HF_TOKEN", None)
    env.update(extra or {})
    return env


def command(*args) -> list[str]:
    return [sys.executable, "-m", "finetune_core", *map(str, args)]


def finetune(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(*args),
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(*args, log: Path) -> subprocess.Popen:
    with log.open("w") as f:
        return subprocess.Popen(
            command(*args),
            env=cli_env(),
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(0.03)
    return predicate()


def error_line(result: subprocess.CompletedProcess) -> str:
    """The failure must be ONE line on stderr, with no traceback."""
    assert result.returncode not in (0, None), result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def loss_steps(path: Path) -> list[int]:
    return [r["step"] for r in runs.read_metrics(path) if "loss" in r]


def write_config(path: Path, data: dict) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2))
    else:
        import yaml

        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
