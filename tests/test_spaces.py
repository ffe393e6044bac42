"""`python app.py` with the Spaces environment behaves as it will on a Space: login button,
runs in persistent storage (or a notice when there is none), the hardware notice, ZeroGPU."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from finetune_core.jobs.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent


def start_space(tmp_path: Path, **env_extra) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FINETUNE_RUNS_DIR"}
    env.update(
        {
            "SPACE_ID": "tests/finetune-dashboard",
            "SYSTEM": "spaces",
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port),
            "HF_HUB_OFFLINE": "1",
            **env_extra,
        }
    )
    if env_extra.pop("oauth", True):  # what a Space with `hf_oauth: true` provides
        env.update(
            {
                "OAUTH_CLIENT_ID": "test-client",
                "OAUTH_CLIENT_SECRET": "test-secret",
                "OAUTH_SCOPES": "openid profile read-repos write-repos",
                "OPENID_PROVIDER_URL": os.environ["HF_ENDPOINT"],
            }
        )
    env.pop("oauth", None)
    log = open(tmp_path / "app.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, (tmp_path / "app.log").read_text()[-2000:]
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the app did not start: " + (tmp_path / "app.log").read_text()[-2000:])


def page_text(config: dict) -> str:
    return json.dumps([c.get("props", {}) for c in config["components"]])


def test_space_with_persistent_storage(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    proc, url = start_space(tmp_path, FINETUNE_PERSISTENT_DIR=str(data))
    try:
        config = httpx.get(url + "config", timeout=10).json()
        text = page_text(config)
        assert "Sign in with Hugging Face" in text
        assert "Running on a Hugging Face Space, hardware: CPU basic" in text
        assert "no persistent storage" not in text
        assert (data / "finetune-runs" / ".dashboard-secret").exists()  # state lives in /data
    finally:
        proc.terminate()
        proc.wait(30)


def test_space_without_storage_and_on_zerogpu_says_so(tmp_path):
    proc, url = start_space(
        tmp_path,
        FINETUNE_PERSISTENT_DIR=str(tmp_path / "absent"),
        SPACES_ZERO_GPU="true",
        oauth=False,
    )
    try:
        text = page_text(httpx.get(url + "config", timeout=10).json())
        assert "no persistent storage: runs and checkpoints are lost" in text
        assert "ZeroGPU cannot hold a GPU for background training" in text
        assert "hardware: ZeroGPU" in text
        assert "Sign-in is off" in text and "Sign in with Hugging Face" not in text
    finally:
        proc.terminate()
        proc.wait(30)
