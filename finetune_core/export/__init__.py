"""Export a run's model: a zip to download, a push to the Hub with the user's own token, or
ONNX checked against PyTorch (export_onnx.py, re-exported here)."""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

from finetune_core.config import is_repo_id
from finetune_core.errors import HubError, RunError
from finetune_core.export.onnx import FLOAT_FILE, OnnxExport, export_onnx
from finetune_core.host.retention import exports_of
from finetune_core.runs import RunDir

__all__ = [
    "OnnxExport",
    "export_onnx",
    "push_to_hub",
    "zip_model",
    "zip_onnx",
]


STORED = (".safetensors", ".bin", ".onnx", ".pt")  # weights: deflate saves little, costs much


def zip_model(run_dir: str | Path) -> Path:
    """model/ (weights, config, tokenizer or processor, model card) as one zip file, made once
    per saved model in the run's exports folder (host/retention.py) and reused until the
    model is saved again; older ones expire there and go with the run."""
    rd = RunDir(run_dir)
    if not rd.has_model():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    return _zip_folder(rd.model_dir, exports_of(rd.path) / f"{rd.path.name}-model.zip")


def zip_onnx(run_dir: str | Path, dest: Path | None = None) -> Path:
    """onnx/ (models, config, tokenizer or processor, README, export.json) as one zip file."""
    rd = RunDir(run_dir)
    if not (rd.onnx_dir / FLOAT_FILE).exists():
        raise RunError("This run has no ONNX export yet; export it first.")
    target = (dest or exports_of(rd.path)) / f"{rd.path.name}-onnx.zip"
    return _zip_folder(rd.onnx_dir, target)


def _zip_folder(folder: Path, target: Path) -> Path:
    """`folder` as the zip `target`, unless a zip newer than every file in it is there."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    newest = max((p.stat().st_mtime for p in files), default=0.0)
    if target.exists() and target.stat().st_mtime >= newest:
        os.utime(target)  # used again: it expires counting from now
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        with zipfile.ZipFile(part, "w") as archive:
            for path in files:
                kind = zipfile.ZIP_STORED if path.suffix in STORED else zipfile.ZIP_DEFLATED
                archive.write(path, path.relative_to(folder).as_posix(), compress_type=kind)
        os.replace(part, target)  # whole or not at all, also with two clicks at once
    finally:
        part.unlink(missing_ok=True)
    return target


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
