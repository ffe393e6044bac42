"""Checks before a run is queued, so the page answers "what is wrong" at once, next to Train,
instead of minutes later from a background job.

Cheap on purpose: the model's config.json (not its weights), its layer groups built on the
meta device, and the data: a local file is loaded and checked exactly as training will (the
datasets cache makes that free for the run), a Hub dataset through its card (first rows).
"""

from __future__ import annotations

from finetune_core import freeze_plan, model
from finetune_core.config import RunConfig
from finetune_core.data import bounds, prepare
from finetune_core.data import load as data
from finetune_core.errors import DataError, HubError
from finetune_core.host import paths
from finetune_core.model.processor import check_tokenizer_size
from finetune_core.train import trackers


def check(
    cfg: RunConfig, token: str | None = None, *, accelerate_config: str | None = None
) -> None:
    """Raise a FinetuneError with one sentence when the run cannot work (`cfg` is validated:
    a RunConfig is checked once, when it is built)."""
    paths.check_run(cfg, accelerate_config)  # hosted: confined paths, no output_dir
    trackers.check(cfg.report_to)  # a tracker not installed, or the host's credentials
    if cfg.push_checkpoints_to and not token:
        from finetune_core.train.checkpoint_push import NEEDS_TOKEN

        raise HubError(NEEDS_TOKEN)
    hf_config = model.load_config(cfg.model, token)
    model.check_weights(cfg.model, token)
    if data.is_local(cfg.dataset):
        prepared = prepare.prepare(cfg, token=token)
        modality, n_labels = prepared.columns.task, len(prepared.label_names)
    else:
        modality, n_labels = _hub_dataset(cfg, token)
    task = model.infer_task(hf_config, modality)
    prepare.check_max_length(cfg.max_length, hf_config, task, cfg.model)
    if task == model.TEXT:
        check_tokenizer_size(cfg.model, token)  # hosted: FINETUNE_MAX_TOKENIZER_MB
    meta = model.load_model(cfg.model, n_labels or 2, task=task, token=token, meta=True)
    freeze_plan.plan_freeze(cfg.freeze, model.layer_groups(meta), cfg.model, token)


def class_count_problem(num_labels: int | None, label: str | None, classes: int) -> str | None:
    """The sentence for a class count the data does not have (the page's summary bar asks
    too, so it never says "ready" for a run this refuses); None when it fits or is unknown."""
    if num_labels is None or not classes or num_labels == classes:
        return None
    return (
        f"num_labels is {num_labels} but label column '{label}' has {classes} classes; "
        f"set num_labels to {classes} or leave it empty."
    )


def _hub_dataset(cfg: RunConfig, token: str | None) -> tuple[str | None, int]:
    from finetune_core import hub

    card = hub.dataset_card(cfg.dataset, config=cfg.dataset_config, token=token)
    if card.offline_reason:
        return None, 0  # nothing to check against: training will say what it finds
    if cfg.train_split not in card.splits:
        raise DataError(
            f"Split '{cfg.train_split}' is not in the dataset; its splits are "
            f"{', '.join(card.splits)}. Set train_split to one of them."
        )
    if cfg.eval_split is not None and cfg.eval_split not in card.splits:
        raise DataError(
            f"Split '{cfg.eval_split}' is not in the dataset; its splits are "
            f"{', '.join(card.splits)}. Set eval_split to one of them or leave it empty."
        )
    label = cfg.label_column or card.label_column
    if label is None:
        raise DataError(
            "No label column found; name it with label_column (columns: "
            f"{', '.join(card.features)})."
        )
    n = len(card.label_names)
    bounds.check_classes(n, label)  # hosted: FINETUNE_MAX_CLASSES (the run checks them all)
    wrong = class_count_problem(cfg.num_labels, label, n) if card.labels_complete else None
    if wrong:
        raise DataError(wrong)
    image = cfg.image_column or card.image_column
    return data.Columns(text=None, image=image, label=label).task, n
