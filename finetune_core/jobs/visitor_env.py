"""The environment of a visitor's child process: nothing of the host's credentials in reach.

Hosted, every job a visitor starts (training, ONNX export, predictions) runs in its own
process, and that process gets an environment built from an allowlist, not a copy of the
server's: no HF_TOKEN or HUGGING_FACE_HUB_TOKEN of the host, no tracker keys (WANDB_API_KEY,
MLFLOW_*), no OAuth secret, no TRACKIO_SPACE_ID. HOME and HF_HOME point to an empty private
folder, so the host's stored login (HF_HOME/token, ~/.cache/huggingface/token) is not where
any library looks: `huggingface_hub.get_token()`, which trackio calls itself, finds nothing.
The Hub and datasets caches stay the host's, pinned by their own variables (each Hub file is
still checked with the visitor's token before it is used, hub/net.check_hosted_access). The
visitor's own token, when they gave one, is the child's HF_TOKEN. trackio writes into the run
folder (TRACKIO_DIR), so its records stay with the run and go when the run is deleted.

Locally the child keeps the user's environment (their HF_TOKEN, tracker keys): see launcher.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from finetune_core.host import env, paths

KEEP = {
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONHASHSEED",
    "VIRTUAL_ENV",
    "LD_LIBRARY_PATH",
    "CUDA_HOME",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_ETAG_TIMEOUT",
    "HF_HUB_DOWNLOAD_TIMEOUT",
    "HF_UPDATE_DOWNLOAD_COUNTS",
    "TOKENIZERS_PARALLELISM",
    "TRANSFORMERS_VERBOSITY",
    # the network path to the Hub, when the host has one
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
}
KEEP_PREFIXES = (
    "FINETUNE_",
    "LC_",
    "HF_HUB_DISABLE_",
    "HF_DATASETS_DISABLE_",
    "OMP_",
    "MKL_",
    "PYTORCH_",
    "NCCL_",
)
TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def isolated() -> bool:
    """Whether jobs run in their own process with this environment: always when hosted."""
    return paths.hosted()


def private_dir() -> Path:
    """An empty folder of the child's own (its HOME and HF_HOME); removed when the job ends."""
    return Path(tempfile.mkdtemp(prefix="finetune-visitor-"))


def build(token: str | None, home: Path, trackio_dir: Path | None = None) -> dict[str, str]:
    """The child's whole environment (see the module doc)."""
    out = {k: v for k, v in os.environ.items() if k in KEEP or k.startswith(KEEP_PREFIXES)}
    out.update(_caches())
    out["HOME"] = str(home)
    out["HF_HOME"] = str(home / "huggingface")
    out["XDG_CACHE_HOME"] = str(home / ".cache")
    out["FINETUNE_HOSTED"] = "1"  # the path policy and the token rules apply in the child too
    out["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    out.setdefault("OMP_NUM_THREADS", "1")
    # the web server keeps a core: the child trains on the others (train/device.py reads it)
    out.setdefault("FINETUNE_NUM_THREADS", str(max(1, env.cores() - 1)))
    if trackio_dir is not None:
        out["TRACKIO_DIR"] = str(trackio_dir)
    if token:
        out["HF_TOKEN"] = token
    return out


def _caches() -> dict[str, str]:
    """The host's download caches, by their own variables (HF_HOME moves to the private
    folder, and these would otherwise move with it: every visitor would download again)."""
    from huggingface_hub import constants

    out = {
        "HF_HUB_CACHE": str(constants.HF_HUB_CACHE),
        "HF_XET_CACHE": str(constants.HF_XET_CACHE),
        "HF_ASSETS_CACHE": str(constants.HF_ASSETS_CACHE),
    }
    datasets_cache = os.environ.get("HF_DATASETS_CACHE")
    out["HF_DATASETS_CACHE"] = datasets_cache or str(Path(constants.HF_HOME) / "datasets")
    return out


def remove(home: Path | None) -> None:
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
