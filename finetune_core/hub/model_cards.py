"""Model info cards, plus the repo-info cache and error mapping the dataset card shares.

Cheap enough to show on selection: a model card reads the repo info and config.json (and
safetensors headers when the Hub gives no parameter count), never the weights. Local
folders and the bundled model are read directly.

Repo info is cached per repo for FINETUNE_HUB_CACHE_TTL seconds, and everything derived
from it per commit sha, which never changes. Calls run under a deadline
(FINETUNE_HUB_CARD_TIMEOUT, default 20 s); when the Hub cannot be reached a model card
falls back to the local cache. Gated and missing repos raise HubError with one sentence.

Training memory estimate (MemoryEstimate), fp32 with AdamW, documented so it can be checked:
  weights 4 B x all params (backbone + new head of hidden x num_labels + num_labels)
  gradients 4 B and optimizer state 8 B (two moments) x trainable params only
  activations kept for backward, per layer 2 x b x s x h x (34 + 5 a s / h) bytes
  (Korthikanti et al. 2022, doubled for fp32) for every layer when backbone layers train,
  one layer's worth when only the head trains; s is the token count (max_length, or
  patches + 1 for images), a the attention heads. Framework overhead is not included.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finetune_core import model as model_mod
from finetune_core.errors import (
    ConfigError,
    DataError,
    FinetuneError,
    HubError,
    HubUnavailableError,
    ModelError,
)
from finetune_core.hub.net import (
    TTLCache,
    endpoint,
    mark_down,
    offline_reason,
    resolve_token,
    run_with_deadline,
    token_key,
    translate,
    unreachable_reason,
)
from finetune_core.hub.offline import (
    cached_snapshot,
    local_param_count,
    task_from_config,
)
from finetune_core.model import BUNDLED_MODEL, bundled_model_path
from finetune_core.model import size as model_size

HEAD_SUFFIXES = ("ForSequenceClassification", "ForImageClassification")


@dataclass
class MemoryEstimate:
    """Bytes needed to train, by part (see the module docstring for the formula)."""

    batch_size: int
    tokens: int
    total_params: int
    trainable_params: int
    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def human(self) -> str:
        return (
            f"about {size_text(self.total)} (weights {size_text(self.weights)}, gradients "
            f"{size_text(self.gradients)}, optimizer {size_text(self.optimizer)}, activations "
            f"{size_text(self.activations)} at batch size {self.batch_size})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


@dataclass
class ModelCard:
    id: str
    source: str  # hub | cache | local | bundled
    revision: str | None
    architecture: str | None
    model_type: str | None
    modality: str | None  # text | image | None when unknown
    can_classify: bool  # transformers has a sequence/image classification class for it
    params: int | None
    license: str | None
    pipeline_tag: str | None
    gated: bool
    has_head: bool  # already a classification head (it will be replaced)
    head_size: int | None
    head_labels: list[str] = field(default_factory=list)
    memory: MemoryEstimate | None = None
    offline_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["memory"] = self.memory.to_dict() if self.memory else None
        return out


# ---- caches ----------------------------------------------------------------------------
_INFO = TTLCache()  # (kind, repo, token, endpoint) -> repo info at "main"
_BY_SHA = TTLCache(ttl=None, max_items=512)  # (what, repo, sha, ...) -> derived data


def clear_card_cache() -> None:
    _INFO.clear()
    _BY_SHA.clear()


def card_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    try:
        return float(os.environ.get("FINETUNE_HUB_CARD_TIMEOUT") or 20.0)
    except ValueError:
        return 20.0


def repo_info(kind: str, repo_id: str, token: str | None) -> Any:
    """ModelInfo/DatasetInfo with file sizes, cached for the cache TTL (main moves)."""
    key = (kind, repo_id, token_key(token), endpoint())
    info = _INFO.get(key)
    if info is None:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=endpoint(), token=token)
        get = api.model_info if kind == "model" else api.dataset_info
        info = _INFO.put(key, get(repo_id, files_metadata=True, timeout=10))
    return info


# ---- model cards -------------------------------------------------------------------------
def model_card(
    repo_id: str,
    *,
    token: str | None = None,
    num_labels: int = 2,
    batch_size: int = 16,
    freeze: str | int = "backbone",
    max_length: int = 128,
    timeout: float | None = None,
) -> ModelCard:
    """What the user needs to pick a model. `freeze` is "backbone", "none" or the number of
    trainable parameters the chosen plan leaves (as `finetune inspect` counts them)."""
    source = str(repo_id).strip()
    if not source:
        raise HubError("No model given; enter a Hub model id or a local folder.")
    if not (freeze in ("backbone", "none") or (isinstance(freeze, int) and freeze >= 0)):
        raise ConfigError("freeze must be 'backbone', 'none' or a trainable parameter count.")
    plan = (num_labels, batch_size, freeze, max_length)
    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise HubError(f"{source} is not a model folder (it has no config.json).")
        return _local_model_card(source, folder, "local", plan)
    bundled = bundled_model_path() if source == BUNDLED_MODEL else None
    if bundled:
        return _local_model_card(source, Path(bundled), "bundled", plan)
    token = resolve_token(token)
    if reason := offline_reason():  # HF_HUB_OFFLINE, or the Hub failed moments ago
        return _cached_model_card(source, reason, plan)
    try:
        return run_with_deadline(
            lambda: _hub_model_card(source, token, plan), card_timeout(timeout)
        )
    except Exception as exc:
        return fail("model", source, exc, lambda r: _cached_model_card(source, r, plan))


def _hub_model_card(repo_id: str, token: str | None, plan: tuple) -> ModelCard:
    from huggingface_hub import HfApi, hf_hub_download

    info = repo_info("model", repo_id, token)
    sha = info.sha
    config = _BY_SHA.get(("config", repo_id, sha))
    if config is None:
        sizes = {f.rfilename: f.size for f in info.siblings or [] if f.size is not None}
        if "config.json" in sizes:  # refused before a byte is downloaded
            model_size.check_config_size(repo_id, sizes["config.json"])
        path = hf_hub_download(
            repo_id, "config.json", revision=sha, token=token, endpoint=endpoint()
        )
        config = _BY_SHA.put(("config", repo_id, sha), model_size.read_config(Path(path), repo_id))
    params = info.safetensors.total if info.safetensors else _BY_SHA.get(("params", repo_id, sha))
    if params is None:
        try:
            meta = HfApi(endpoint=endpoint(), token=token).get_safetensors_metadata(
                repo_id, revision=sha
            )
            params = _BY_SHA.put(("params", repo_id, sha), sum(meta.parameter_count.values()))
        except Exception as exc:  # not a safetensors repo: the count stays unknown
            if unreachable_reason(exc):
                raise
    card_data = info.card_data
    license_ = getattr(card_data, "license", None) if card_data else None
    license_ = license_ or next(
        (t.split(":", 1)[1] for t in info.tags or [] if t.startswith("license:")), None
    )
    return _build_model_card(
        repo_id, "hub", sha, config, params, license_, info.pipeline_tag, bool(info.gated), plan
    )


def _local_model_card(
    repo_id: str, folder: Path, source: str, plan: tuple, reason: str | None = None
) -> ModelCard:
    config = model_size.read_config(folder / "config.json", repo_id)
    license_ = _front_matter(folder / "README.md").get("license")
    card = _build_model_card(
        repo_id,
        source,
        None,
        config,
        local_param_count(folder),
        license_,
        task_from_config(config),
        False,
        plan,
    )
    card.offline_reason = reason
    return card


def _cached_model_card(repo_id: str, reason: str, plan: tuple) -> ModelCard:
    folder = cached_snapshot("model", repo_id)
    if folder is None or not (folder / "config.json").is_file():
        raise HubError(
            f"Model {repo_id} cannot be shown: {reason}, and it is not in the local cache."
        )
    return _local_model_card(repo_id, folder, "cache", plan, reason)


def _build_model_card(
    repo_id, source, sha, config, params, license_, pipeline_tag, gated, plan
) -> ModelCard:
    num_labels, batch_size, freeze, max_length = plan
    archs = config.get("architectures") or []
    head = next((a for a in archs if a.endswith(HEAD_SUFFIXES)), None)
    id2label = config.get("id2label") if isinstance(config.get("id2label"), dict) else {}
    first = sorted(id2label, key=_label_index)[:HEAD_LABELS]  # a card shows a few
    labels = [str(id2label[k])[:100] for k in first] if head else []
    model_type = config.get("model_type")
    modality, can_classify = model_mod.modality(model_type, pipeline_tag)
    return ModelCard(
        id=repo_id,
        source=source,
        revision=sha,
        architecture=archs[0] if archs else None,
        model_type=model_type,
        modality=modality,
        can_classify=can_classify,
        params=params,
        license=license_,
        pipeline_tag=pipeline_tag,
        gated=gated,
        has_head=head is not None,
        head_size=(len(id2label) or config.get("num_labels")) if head else None,
        head_labels=labels,
        memory=estimate_memory(
            config,
            params,
            num_labels=num_labels,
            batch_size=batch_size,
            freeze=freeze,
            max_length=max_length,
        ),
    )


HEAD_LABELS = 100  # an existing head's class names kept for the card


def _label_index(key: Any) -> tuple[int, str]:
    """id2label keys are numbers written as strings; anything else sorts after them."""
    text = str(key)
    return (int(text), "") if text.isdigit() and len(text) < 12 else (10**12, text)


def estimate_memory(
    config: dict[str, Any],
    params: int | None,
    *,
    num_labels: int,
    batch_size: int,
    freeze: str | int,
    max_length: int,
) -> MemoryEstimate | None:
    """Training memory by the formula in the module docstring; None without a param count."""
    if params is None:
        return None
    hidden = (
        _first(config, "hidden_size", "d_model", "dim") or (config.get("hidden_sizes") or [0])[-1]
    )
    layers = _first(config, "num_hidden_layers", "n_layers", "num_layers") or sum(
        config.get("depths") or []
    )
    heads = _first(config, "num_attention_heads", "n_heads") or 1
    image, patch = config.get("image_size"), config.get("patch_size")
    if isinstance(image, int) and isinstance(patch, int) and patch:
        tokens = (image // patch) ** 2 + 1
    else:
        tokens = max_length
    head = hidden * num_labels + num_labels
    total = params + head
    trainable = {"backbone": head, "none": total}.get(freeze, freeze)
    per_layer = int(2 * batch_size * tokens * hidden * (34 + 5 * heads * tokens / max(hidden, 1)))
    stored = layers if trainable > head else 1
    return MemoryEstimate(
        batch_size,
        tokens,
        total,
        trainable,
        4 * total,
        4 * trainable,
        8 * trainable,
        per_layer * stored if hidden else 0,
    )


def _first(config: dict[str, Any], *keys: str) -> int:
    return next((config[k] for k in keys if isinstance(config.get(k), int)), 0)


def size_text(n: float, *, base: int = 1000) -> str:
    """Bytes as people read them: "512 B", "1.5 MB" (steps of `base`, up to GB)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < base or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= base
    return f"{n} GB"  # not reached: GB returns above


def _front_matter(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    if not text.startswith("---") or text.count("---") < 2:
        return {}
    from finetune_core.config import parse_text  # bounded, no aliases: a README is untrusted

    try:
        data = parse_text(text.split("---", 2)[1], f"{path.parent.name}/README.md")
    except FinetuneError:
        return {}
    return data if isinstance(data, dict) else {}


def fail(kind: str, repo_id: str, exc: Exception, fallback=None) -> Any:
    """Raise one HubError sentence for `exc`, or return `fallback(reason)` (a card from
    offline sources) when the Hub is merely unreachable."""
    label = "Dataset" if kind == "dataset" else "Model"
    typed = translate(exc, kind, repo_id, action="shown")
    if isinstance(typed, HubUnavailableError):
        mark_down(typed.reason)
        if fallback is not None:
            return fallback(typed.reason)
    if typed is not None:
        raise typed
    if isinstance(exc, DataError | ModelError):  # already one sentence about the input
        raise exc
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    raise HubError(f"{label} {repo_id} could not be read from the Hub: {first}")
