"""A model's tokenizer or image processor, loaded within bounds: its tokenizer.json no larger
than FINETUNE_MAX_TOKENIZER_MB (hosted default 50 MB; checked before it is downloaded or
parsed), loading within PROCESSOR_SECONDS, and the run's own config handed over so that
transformers does not read config.json again on its own (where a hostile num_labels would be
built after all)."""

from __future__ import annotations

import os

from finetune_core.errors import ModelError

PROCESSOR_SECONDS = 300.0  # the largest real tokenizers load in seconds


def check_tokenizer_size(source: str, token=None) -> None:
    """Refuse a tokenizer.json over the host's limit, from its size on disk or on the Hub."""
    from finetune_core.host import limits
    from finetune_core.model import local_path

    limit = limits.max_tokenizer_bytes()
    if not limit:
        return
    path = local_path(source)
    if os.path.isdir(path):
        file = os.path.join(path, "tokenizer.json")
        size = os.path.getsize(file) if os.path.isfile(file) else 0
    else:
        size = _hub_size(path, token)
    if size > limit:
        raise ModelError(
            f"Model {source} has a tokenizer.json of {size / 2**20:.0f} MB, over the "
            f"{limit / 2**20:.0f} MB this dashboard loads (FINETUNE_MAX_TOKENIZER_MB); pick "
            "another model."
        )


def _hub_size(repo: str, token) -> int:
    from huggingface_hub import HfApi

    from finetune_core.hub.net import endpoint

    try:
        found = HfApi(endpoint=endpoint(), token=token).get_paths_info(repo, ["tokenizer.json"])
    except Exception:  # unreachable or missing: loading says what it finds
        return 0
    return next((getattr(f, "size", 0) or 0 for f in found), 0)


def load_processor(source: str, task: str, config, token=None, *, seconds: float | None = None):
    """AutoImageProcessor (images) or AutoTokenizer (text) for `source`, bounded as above;
    one sentence when it is missing, too big, broken or too slow."""
    from transformers import AutoImageProcessor, AutoTokenizer

    from finetune_core.hub.net import DeadlineExceeded, run_with_deadline
    from finetune_core.model import IMAGE, local_path

    what = "image processor" if task == IMAGE else "tokenizer"
    if task != IMAGE:
        check_tokenizer_size(source, token)
    auto = AutoImageProcessor if task == IMAGE else AutoTokenizer
    limit = PROCESSOR_SECONDS if seconds is None else seconds
    try:
        return run_with_deadline(
            lambda: auto.from_pretrained(local_path(source), config=config, token=token),
            limit,
        )
    except DeadlineExceeded:
        raise ModelError(
            f"Model {source}'s {what} took longer than {limit:g} s to load; pick another model."
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Model {source} has no usable {what} ({str(exc).splitlines()[0][:160]})."
        ) from exc
