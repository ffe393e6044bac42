"""Test set-up: no test reaches the internet.

The environment is fixed here, before huggingface_hub, transformers, datasets or gradio are
imported (they read HF_ENDPOINT and friends at import time): every client talks to the fake
Hub on 127.0.0.1, caches live in a temporary folder, and torch uses few threads.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

_TMP = Path(tempfile.mkdtemp(prefix="finetune-tests-"))
from fakehub import FakeHub  # noqa: E402  (stdlib only: safe before the HF imports)

HUB = FakeHub()
HUB.start()
os.environ.update(
    {
        "HF_ENDPOINT": HUB.url,
        "HF_HOME": str(_TMP / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets would ping S3 on every local CSV load
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "FINETUNE_NUM_THREADS": os.environ.get("FINETUNE_NUM_THREADS", "1"),
        "FINETUNE_RUNS_DIR": str(_TMP / "runs"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
)
for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "SPACE_ID", "SYSTEM"):
    os.environ.pop(var, None)

import pytest  # noqa: E402
import tiny  # noqa: E402

# the browser tests' fixtures (server, page) live beside their helpers in tests/browser.py
pytest_plugins = ["browser"]


@pytest.fixture(scope="session")
def fake_hub() -> FakeHub:
    """The loopback fake Hub every client in the tests points at."""
    return HUB


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A local tiny BERT backbone (no head) with its tokenizer."""
    return tiny.make_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    return tiny.make_vit(tmp_path_factory.mktemp("tiny-vit"))


@pytest.fixture(scope="session")
def text_csv(tmp_path_factory) -> Path:
    """Text CSV with string labels and non-standard column names."""
    rows = tiny.text_rows(60)
    return tiny.write_csv(
        tmp_path_factory.mktemp("data") / "reviews.csv",
        rows,
        rename={"text": "review_body", "label": "verdict"},
    )


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return tiny.make_image_folder(tmp_path_factory.mktemp("images") / "colors")


def pytest_sessionfinish(session, exitstatus):
    HUB.stop()
