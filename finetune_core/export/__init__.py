"""Export a run's model: a zip to download, a push to the Hub with the user's own token, or
ONNX checked against PyTorch (export_onnx.py, re-exported here)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from finetune_core.config import is_repo_id
from finetune_core.errors import HubError, RunError
from finetune_core.export.onnx import FLOAT_FILE, OnnxExport, export_onnx
from finetune_core.runs import RunDir

__all__ = [
    "OnnxExport",
    "export_onnx",
    "push_to_hub",
    "zip_model",
    "zip_onnx",
]


def zip_model(run_dir: str | Path) -> Path:
    """model/ (weights, config, tokenizer or processor, model card) as one zip file."""
    rd = RunDir(run_dir)
    model_dir = rd.model_dir
    if not rd.has_model():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    out = Path(tempfile.mkdtemp(prefix="finetune-export-")) / f"{rd.path.name}-model"
    return Path(shutil.make_archive(str(out), "zip", root_dir=model_dir))


def zip_onnx(run_dir: str | Path) -> Path:
    """onnx/ (models, config, tokenizer or processor, README, export.json) as one zip file."""
    run_dir = Path(run_dir)
    folder = RunDir(run_dir).onnx_dir
    if not (folder / FLOAT_FILE).exists():
        raise RunError("This run has no ONNX export yet; export it first.")
    out = Path(tempfile.mkdtemp(prefix="finetune-export-")) / f"{run_dir.name}-onnx"
    return Path(shutil.make_archive(str(out), "zip", root_dir=folder))


def push_to_hub(
    run_dir: str | Path, repo_id: str, token: str | None, *, private: bool = True
) -> str:
    """Create (or reuse) `repo_id` and upload model/ to it. Returns the repo URL.

    The token must be the user's own: there is no fallback to the host's environment, since
    huggingface_hub would otherwise silently use HF_TOKEN of the machine.
    """
    from huggingface_hub import HfApi

    repo_id = (repo_id or "").strip()
    if not token:
        raise HubError("Log in or paste a Hugging Face token with write access to push.")
    if not is_repo_id(repo_id):
        raise HubError("Name the repo as owner/name (or just name for your own account).")
    model_dir = RunDir(run_dir).model_dir
    if not RunDir(run_dir).has_model():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            repo_id=url.repo_id,
            folder_path=str(model_dir),
            commit_message="Upload fine-tuned model from finetune-dashboard",
        )
    except Exception as exc:
        from finetune_core.hub.net import write_error

        raise write_error(exc, "push", repo_id, token) from None
    return str(url)
