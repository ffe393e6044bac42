"""Export a run's model: a zip to download, or a push to the Hub with the user's own token."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from finetune_core.errors import HubError, RunError


def zip_model(run_dir: str | Path) -> Path:
    """model/ (weights, config, tokenizer or processor, model card) as one zip file."""
    run_dir = Path(run_dir)
    model_dir = run_dir / "model"
    if not (model_dir / "config.json").exists():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    out = Path(tempfile.mkdtemp(prefix="finetune-export-")) / f"{run_dir.name}-model"
    return Path(shutil.make_archive(str(out), "zip", root_dir=model_dir))


def push_to_hub(
    run_dir: str | Path, repo_id: str, token: str | None, *, private: bool = True
) -> str:
    """Create (or reuse) `repo_id` and upload model/ to it. Returns the repo URL.

    The token must be the user's own: there is no fallback to the host's environment, since
    huggingface_hub would otherwise silently use HF_TOKEN of the machine.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = (repo_id or "").strip()
    if not token:
        raise HubError("Log in or paste a Hugging Face token with write access to push.")
    if not repo_id or repo_id.count("/") > 1 or " " in repo_id:
        raise HubError("Name the repo as owner/name (or just name for your own account).")
    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").exists():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(
            repo_id=url.repo_id,
            folder_path=str(model_dir),
            commit_message="Upload fine-tuned model from finetune-dashboard",
        )
    except HfHubHTTPError as exc:
        code = getattr(exc.response, "status_code", None)
        if code in (401, 403):
            raise HubError(
                f"The Hub refused the push to {repo_id} ({code}); use a token with write access."
            ) from None
        raise HubError(f"The push to {repo_id} failed: {str(exc).splitlines()[0][:200]}") from None
    except OSError as exc:
        raise HubError(f"The Hub could not be reached to push ({type(exc).__name__}).") from None
    return str(url)
