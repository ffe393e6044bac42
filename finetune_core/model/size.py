"""A model's config.json read with bounds, and its size estimated from it before anything is
built, so a config cannot make the server build or queue more than the host can hold.

A 600-byte config with `num_labels: 10000000` made transformers build a 10-million-entry
id2label (149 s and 7.9 GB to show a card); `hidden_size: 65536` describes 57.8 B parameters
that `from_pretrained(..., ignore_mismatched_sizes=True)` would materialise. Here:
- config.json is at most MAX_CONFIG_BYTES and nested at most MAX_DEPTH levels, checked
  before it is parsed (a 38 MB id2label is refused);
- a label count beyond CONFIG_LABELS is ignored (the run's head has the data's classes);
- parameters are estimated from the shape the config describes (`estimate_params`), and
  hosted, a model over FINETUNE_MAX_PARAMS, or whose weights alone exceed the host's memory,
  is refused with one sentence (host/limits.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from finetune_core.errors import ModelError

MAX_CONFIG_BYTES = 4 * 2**20  # real configs are kilobytes; 21k ImageNet labels about 1 MB
MAX_DEPTH = 32  # a config nests a sub-config or two
CONFIG_LABELS = 100_000  # a config's num_labels above this is ignored (never built)
BYTES_PER_PARAM = 4  # fp32 weights: what the host must hold before training adds anything


def config_path(source: str, token=None) -> tuple[Path, str | None]:
    """The config.json a model id or folder names, and the Hub commit it is from (load it at
    that commit, so what was checked is what is built). A Hub repo's is downloaded only once
    the Hub has said its size is within the bound; offline, the cached copy."""
    from finetune_core.model import local_path

    folder = local_path(source)
    if os.path.isdir(folder):
        return Path(folder) / "config.json", None
    from huggingface_hub import (
        constants,
        get_hf_file_metadata,
        hf_hub_download,
        hf_hub_url,
        try_to_load_from_cache,
    )

    from finetune_core.hub.net import endpoint

    cached = try_to_load_from_cache(folder, "config.json")
    if constants.HF_HUB_OFFLINE and isinstance(cached, str):
        return Path(cached), None
    try:
        url = hf_hub_url(folder, "config.json", endpoint=endpoint())
        meta = get_hf_file_metadata(url, token=token)
    except Exception:
        if isinstance(cached, str):  # the Hub is down: the cache, as transformers would
            return Path(cached), None
        raise
    check_config_size(source, meta.size or 0)
    path = hf_hub_download(
        folder, "config.json", revision=meta.commit_hash, token=token, endpoint=endpoint()
    )
    return Path(path), meta.commit_hash


def check_config_size(source: str, size: int) -> None:
    """Refuse a config.json over MAX_CONFIG_BYTES (its size known before reading it)."""
    if size > MAX_CONFIG_BYTES:
        raise ModelError(
            f"Model {source} has a config.json of {size / 2**20:.1f} MB, over the limit of "
            f"{MAX_CONFIG_BYTES // 2**20} MB; a model's config describes its shape in "
            "kilobytes (a huge id2label is the usual cause)."
        )


def read_config(path: Path, source: str) -> dict[str, Any]:
    """config.json as a dict, its size and nesting checked before it is parsed."""
    from finetune_core.jsonfiles import json_depth

    try:
        check_config_size(source, path.stat().st_size)
        if json_depth(path, MAX_DEPTH) > MAX_DEPTH:
            raise ModelError(f"Model {source} has a config.json nested too deeply to read.")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"Model {source} has an unreadable config.json ({exc}).") from None
    if not isinstance(data, dict):
        raise ModelError(f"Model {source} has a config.json that is not a JSON object.")
    return data


def label_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for AutoConfig that keep it from building a huge id2label: a
    num_labels beyond CONFIG_LABELS is replaced (the run's new head has the data's classes)."""
    n = config.get("num_labels")
    if isinstance(n, int) and not isinstance(n, bool) and (n > CONFIG_LABELS or n < 0):
        return {"num_labels": 2}
    return {}


def _int(config: dict[str, Any], *keys: str, default: int = 0) -> int:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return default


def estimate_params(config: dict[str, Any], num_labels: int = 2) -> int | None:
    """Parameters of the model this config describes with an N-class head, from its shape
    (embeddings, L transformer blocks of 4h^2 + 2hi, pooler, head); None when the config
    does not name a transformer's width and depth (convolutional nets, unknown types)."""
    text = config.get("text_config")
    if isinstance(text, dict) and not _int(config, "hidden_size", "d_model", "dim", "n_embd"):
        config = text  # a multimodal config: its text tower decides the classifier's size
    h = _int(config, "hidden_size", "d_model", "dim", "n_embd")
    layers = _int(config, "num_hidden_layers", "n_layers", "num_layers", "n_layer")
    if not h or not layers:
        return None
    inner = _int(config, "intermediate_size", "hidden_dim", "d_ff", "n_inner", default=4 * h)
    vocab = _int(config, "vocab_size")
    positions = _int(config, "max_position_embeddings", "n_positions")
    patch, image = _int(config, "patch_size"), _int(config, "image_size")
    if patch and image:  # a vision transformer: patch projection and one position per patch
        channels = _int(config, "num_channels", default=3)
        embeddings = channels * patch * patch * h + ((image // patch) ** 2 + 2) * h
    else:
        embeddings = (vocab + positions + _int(config, "type_vocab_size")) * h
    block = 4 * h * h + 2 * h * inner + 9 * h + inner
    return embeddings + 2 * h + layers * block + h * h + h + h * num_labels + num_labels


def check_size(config: dict[str, Any], source: str, num_labels: int = 2) -> int | None:
    """Hosted: refuse a model over FINETUNE_MAX_PARAMS or whose weights alone exceed the host's
    memory (one sentence); returns the estimate (None when it cannot be made)."""
    from finetune_core.host import limits
    from finetune_core.host.paths import hosted

    params = estimate_params(config, num_labels)
    if params is None:
        return None
    cap = limits.max_params()
    if cap and params > cap:
        raise ModelError(
            f"Model {source} has about {_count(params)} parameters by its config.json, over the "
            f"{_count(cap)} this dashboard trains (FINETUNE_MAX_PARAMS); pick a smaller model."
        )
    memory = limits.memory_bytes() if hosted() else None
    if memory and params * BYTES_PER_PARAM > memory:
        raise ModelError(
            f"Model {source} needs about {params * BYTES_PER_PARAM / 2**30:.1f} GB for its "
            f"weights alone, more than the {memory / 2**30:.1f} GB of this host; pick a smaller "
            "model."
        )
    return params


def _count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def bounded_config(source: str, token=None) -> tuple[dict[str, Any], str | None]:
    """config.json of a model id or folder read within the bounds, and its Hub commit."""
    path, revision = config_path(source, token)
    return read_config(path, source), revision
