"""Step 3, the head and freezing: number of classes, one checkbox per layer group, presets
in fastai's vocabulary (head only ~ freeze(), last N blocks ~ freeze_to(-N), everything ~
unfreeze()), the live trainable-parameter count and the model tree with frozen parts marked."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from finetune_core.ui import form
from finetune_core.ui.common import Shared, human

AUTO, HEAD_ONLY, HEAD_POOLER, LAST_N, EVERYTHING = (
    "auto (timed at the start)",
    "head only",
    "head + pooler/final norm",
    "last N blocks",
    "everything",
)
PRESETS = [AUTO, HEAD_ONLY, HEAD_POOLER, LAST_N, EVERYTHING]
CUSTOM = "custom"  # boxes ticked by hand
POOLER_NOTE = (
    "Sentence-embedding checkpoints such as all-MiniLM-L6-v2 were trained with mean pooling: "
    "their pooler is untrained for classification, so train it with the head "
    "(measured: 0.90 accuracy vs 0.79 with the pooler frozen)."
)


AUTO_NOTE = (
    "**auto**: when training starts, a few steps are timed and the deepest plan whose estimated "
    "training time fits the time budget trains: from the head with the pooler/final norm, "
    "through the top blocks, to everything (on a GPU the whole model usually fits). The boxes "
    "show the shallowest plan; the Train step shows the one chosen and why. Measured on TREC "
    "(6 classes, all-MiniLM-L6-v2, 2 CPU cores): head + pooler 0.67 macro F1, top block 0.94."
)


def choices(groups: list[dict] | None) -> list[tuple[str, str]]:
    return [
        (f"{g['name']}  ·  {g['kind']}  ·  {human(g['params'])}", g["name"]) for g in groups or []
    ]


def preset_frozen(groups: list[dict] | None, preset: str, n: int = 1) -> list[str]:
    """Frozen group names for a preset."""
    groups = groups or []
    blocks = [g["name"] for g in groups if g["kind"] == "block"]
    if preset == AUTO:  # shown: the shallowest plan auto may choose
        preset = HEAD_POOLER if blocks else HEAD_ONLY
    if preset == EVERYTHING:
        return []
    if preset == HEAD_ONLY:
        return [g["name"] for g in groups if g["kind"] != "head"]
    if preset == HEAD_POOLER:
        return [g["name"] for g in groups if g["kind"] in ("embeddings", "block")]
    keep = set(blocks[len(blocks) - max(0, int(n or 0)) :]) if n else set()
    last_block = max((i for i, g in enumerate(groups) if g["kind"] == "block"), default=-1)
    return [
        g["name"]
        for i, g in enumerate(groups)
        if g["kind"] != "head" and g["name"] not in keep and i <= last_block
    ]


def trainable_text(groups: list[dict] | None, frozen: list[str] | None) -> str:
    if not groups:
        return "Pick a model in step 1 to see its layer groups."
    total = sum(g["params"] for g in groups)
    frozen_set = set(frozen or [])
    trainable = sum(g["params"] for g in groups if g["name"] not in frozen_set)
    share = trainable / total if total else 0
    warn = " (nothing is trainable: unfreeze at least the head)" if trainable == 0 else ""
    return f"**Trainable {trainable:,} of {total:,} parameters ({share:.2%})**{warn}"


def tree_html(groups: list[dict] | None, frozen: list[str] | None) -> str:
    """The groups as an indented tree of module paths; frozen ones greyed with a lock."""
    if not groups:
        return ""
    frozen_set = set(frozen or [])
    seen: set[str] = set()
    lines = []
    for g in groups:
        parts = g["name"].split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix not in seen:
                seen.add(prefix)
                pad = (depth - 1) * 16
                lines.append(
                    f'<div style="padding-left:{pad}px">{html.escape(parts[depth - 1])}</div>'
                )
        is_frozen = g["name"] in frozen_set
        icon, cls = ("[frozen]", "ft-frozen") if is_frozen else ("[train]", "ft-trainable")
        lines.append(
            f'<div class="{cls}" style="padding-left:{(len(parts) - 1) * 16}px">{icon} '
            f"{html.escape(parts[-1])} <small>({g['kind']}, {human(g['params'])})</small></div>"
        )
    return '<div class="ft-tree">' + "".join(lines) + "</div>"


def default_preset(model_id: str, groups: list[dict] | None) -> tuple[str, str]:
    """The page's default is the engine's: `freeze: auto` (the CLI and the page agree)."""
    return AUTO, AUTO_NOTE if groups else ""


@dataclass
class FreezeStep:
    num_labels: Any
    preset: Any
    last_n: Any
    note: Any
    msg: Any
    summary: Any
    frozen: Any
    tree: Any


def render(shared: Shared) -> FreezeStep:
    with gr.Row():
        num_labels = form.widget("num_labels", placeholder="from the data", scale=1)
        preset = gr.Radio(
            [*PRESETS, CUSTOM], value=AUTO, label="Preset", scale=2, elem_id="freeze-preset"
        )
        last_n = gr.Slider(
            1, 12, value=2, step=1, label="N (for last N blocks)", scale=1, visible=False
        )
    note = gr.Markdown()
    msg = gr.HTML(elem_id="freeze-msg")
    summary = gr.Markdown(trainable_text(None, None), elem_id="trainable-summary")
    with gr.Row():
        frozen = gr.CheckboxGroup(
            [],
            value=[],
            label="Frozen layer groups, in model order (ticked = frozen, unticked = trained)",
            elem_id="frozen-groups",
            scale=3,
        )
        tree = gr.HTML(label="Model tree", elem_id="model-tree")
    return FreezeStep(num_labels, preset, last_n, note, msg, summary, frozen, tree)


def freeze_value(groups: list[dict] | None, frozen: list[str] | str | None) -> Any:
    """The config's freeze value: 'auto' as given, 'backbone' / 'none' when they say it
    exactly, else the list."""
    if frozen == "auto":
        return "auto"
    frozen = list(frozen or [])
    if not frozen:
        return "none"
    non_head = [g["name"] for g in groups or [] if g["kind"] != "head"]
    if groups and sorted(frozen) == sorted(non_head):
        return "backbone"
    return frozen
