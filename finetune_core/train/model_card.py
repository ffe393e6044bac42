"""The model card (model/README.md) written with every saved model.

Its YAML metadata is what the Hub reads to show the task, an inference widget, the base model,
the dataset, the license and the scores (`model-index`). It is built with huggingface_hub's own
`ModelCardData`/`EvalResult`, so the metadata is in the Hub's format by construction; the
tests parse it back with `metadata_load` and `ModelCard`.

A local model or dataset is named by its file or folder name only (`public_name`): the server
path of a visitor's upload is the key to that upload, and a card is published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune_core import inert

# metrics (the keys run.py's final evaluation returns) -> (metric type, display name, args)
EVAL_METRICS = {
    "accuracy": ("accuracy", "Accuracy", None),
    "f1_macro": ("f1", "F1 (macro)", {"average": "macro"}),
    "f1_micro": ("f1", "F1 (micro)", {"average": "micro"}),
}
LICENSE_LOOKUP_TIMEOUT = 5.0  # seconds: a slow Hub must not hold up saving a trained model


CARD_CLASSES = 100  # class names listed in the card; all of them are in config.json


def classes_line(names: list[str]) -> str:
    """The card's list of classes: data-provided names shown as text (a label `<a href=...>`
    must not become a link on the Hub's page), at most CARD_CLASSES of them."""
    shown = ", ".join(inert.md(n) for n in names[:CARD_CLASSES])
    more = f", and {len(names) - CARD_CLASSES:,} more" if len(names) > CARD_CLASSES else ""
    return f"- Classes ({len(names):,}): {shown}{more}"


def write_model_card(
    model_dir: Path,
    cfg,
    summary,
    metrics: dict[str, Any] | None,
    state: str,
    *,
    eval_split: str | None = None,
    token: str | None = None,
) -> Path:
    """Metadata for the Hub, then base model, dataset, labels, frozen groups, settings and
    results. `token` (the user's own) is only used to read the base model's license; it is
    never written."""
    data = card_metadata(cfg, summary, metrics, eval_split=eval_split, token=token)
    lines = [
        "---",
        data.to_yaml().strip(),
        "---",
        "",
        f"# {data.model_name}",
        "",
        f"{_base_name(cfg.model)} fine-tuned for {summary.task} classification "
        f"({len(cfg.label_names or [])} classes) with finetune-dashboard.",
        "",
        f"- Base model: `{public_name(cfg.model)}`",
        f"- Dataset: `{public_name(cfg.dataset)}`"
        + (f" (config `{cfg.dataset_config}`)" if cfg.dataset_config else ""),
        classes_line(cfg.label_names or []),
        f"- Training: {summary.line()}",
        f"- Frozen layer groups: {', '.join(summary.frozen) if summary.frozen else 'none'}",
        f"- Settings: epochs {cfg.epochs}, learning rate {cfg.learning_rate}, "
        f"batch size {cfg.batch_size}, max length {cfg.max_length}, seed {cfg.seed}",
        f"- Run state: {state}",
        "",
    ]
    if metrics:
        where = f" on `{eval_split}`" if eval_split else ""
        lines += [
            f"## Evaluation{where}",
            "",
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, int | float)],
            "",
        ]
    lines += [
        "## Use it",
        "",
        "```python",
        *usage(data.pipeline_tag, cfg),
        "```",
        "",
        "Trained with finetune-dashboard; `config.json` beside the run reproduces it.",
        "",
    ]
    path = Path(model_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


MULTI_LABEL_USAGE = """\
from transformers import pipeline

classifier = pipeline("{task}", model="path/or/hub-id/of/this/model", top_k=None)
# each label whose probability is above its threshold: the tuned ones stored in the model's
# config when there are, else the run's threshold
thresholds = getattr(classifier.model.config, "{key}", None) or {{}}
scores = classifier([{example}]{cut})[0]
labels = [s["label"] for s in scores if s["score"] > thresholds.get(s["label"], {default})]
print(sorted(labels, key=classifier.model.config.label2id.get))  # in the model's label order"""


def usage(pipeline_tag: str, cfg) -> list[str]:
    """The card's python snippet; multi-label, it decides as `finetune predict` does."""
    from finetune_core.predict import THRESHOLDS_KEY

    if getattr(cfg, "problem_type", None) != "multi_label":
        model = 'model="path/or/hub-id/of/this/model"'
        return [
            "from transformers import pipeline",
            "",
            f'classifier = pipeline("{pipeline_tag}", {model})',
        ]
    image = pipeline_tag == "image-classification"
    return MULTI_LABEL_USAGE.format(
        task=pipeline_tag,
        key=THRESHOLDS_KEY,
        example='"your-image.png"' if image else '"Type your text here"',
        cut="" if image else f", truncation=True, max_length={cfg.max_length}",
        default=cfg.threshold if cfg.threshold is not None else 0.5,
    ).splitlines()


def card_metadata(
    cfg,
    summary,
    metrics: dict[str, Any] | None,
    *,
    eval_split: str | None = None,
    token: str | None = None,
):
    """The card's metadata as a huggingface_hub `ModelCardData`."""
    from huggingface_hub import EvalResult, ModelCardData

    pipeline = "image-classification" if summary.task == "image" else "text-classification"
    dataset_id = None if _is_local(cfg.dataset) else str(cfg.dataset)
    dataset_label = public_name(cfg.dataset)
    name = f"{_base_name(cfg.model)}-finetuned-{Path(dataset_label).stem or 'data'}"
    results = [
        EvalResult(
            task_type=pipeline,
            dataset_type=dataset_label,
            dataset_name=dataset_label,
            dataset_config=cfg.dataset_config,
            dataset_split=eval_split,
            metric_type=kind,
            metric_name=display,
            metric_args=args,
            metric_value=round(float(metrics[key]), 6),
        )
        for key, (kind, display, args) in EVAL_METRICS.items()
        if metrics and isinstance(metrics.get(key), int | float)
    ]
    return ModelCardData(
        model_name=name,
        base_model=None if _is_local(cfg.model) else str(cfg.model),
        datasets=[dataset_id] if dataset_id else None,
        license=base_model_license(cfg.model, token),
        library_name="transformers",
        pipeline_tag=pipeline,
        tags=["finetune-dashboard", pipeline],
        metrics=sorted({kind for kind, _, _ in EVAL_METRICS.values()}) if results else None,
        eval_results=results or None,
    )


def base_model_license(source: str, token: str | None = None) -> str | None:
    """The base model's license from its card (local folder, bundled copy, cache or Hub), or
    None when it is not known. Never fails: a missing license only leaves the field out."""
    from finetune_core.hub import model_card

    try:
        card = model_card(str(source), token=token, timeout=LICENSE_LOOKUP_TIMEOUT)
    except Exception:
        return None
    value = getattr(card, "license", None)
    return value if isinstance(value, str) and value.strip() else None


def public_name(source: Any) -> str:
    """How a published file names a model or dataset: a Hub id as it is, a local path by its
    last part only (also once the file is gone: anything that looks like a path)."""
    text = str(source or "")
    return Path(text.rstrip("/")).name or text if _is_local(text) else text


def _base_name(source: str) -> str:
    return Path(str(source).rstrip("/")).name or "model"


def _is_local(source: str) -> bool:
    from finetune_core.host.paths import is_local

    return is_local(str(source))
