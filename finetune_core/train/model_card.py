"""The model card (model/README.md) written with every saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_model_card(
    model_dir: Path, cfg, summary, metrics: dict[str, Any] | None, state: str
) -> Path:
    """Base model, dataset, label names, frozen groups, settings and results. Never a token."""
    pipeline = "image-classification" if summary.task == "image" else "text-classification"
    front = {
        "library_name": "transformers",
        "pipeline_tag": pipeline,
        "tags": ["finetune-dashboard"],
    }
    if not _is_local(cfg.model):
        front["base_model"] = cfg.model
    if not _is_local(cfg.dataset):
        front["datasets"] = [cfg.dataset]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {Path(str(cfg.model).rstrip('/')).name} fine-tuned for {summary.task} classification",
        "",
        f"- Base model: `{cfg.model}`",
        f"- Dataset: `{cfg.dataset}`"
        + (f" (config `{cfg.dataset_config}`)" if cfg.dataset_config else ""),
        f"- Classes ({len(cfg.label_names or [])}): {', '.join(cfg.label_names or [])}",
        f"- Training: {summary.line()}",
        f"- Frozen layer groups: {', '.join(summary.frozen) if summary.frozen else 'none'}",
        f"- Settings: epochs {cfg.epochs}, learning rate {cfg.learning_rate}, "
        f"batch size {cfg.batch_size}, max length {cfg.max_length}, seed {cfg.seed}",
        f"- Run state: {state}",
        "",
    ]
    if metrics:
        lines += [
            "## Evaluation",
            "",
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {v:.4f} |" for k, v in metrics.items()],
            "",
        ]
    lines += ["Trained with finetune-dashboard; `config.json` beside the run reproduces it.", ""]
    path = Path(model_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _is_local(source: str) -> bool:
    return Path(str(source)).expanduser().exists()
