"""Step 1, the model: search the Hub (or offline sources), pick one, see its card and groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from finetune_core.errors import FinetuneError
from finetune_core.hub import model_cards as hub_cards
from finetune_core.model import BUNDLED_MODEL
from finetune_core.ui import form, search_panel
from finetune_core.ui.common import WARN, Shared, check_local_path, human, md_text, message
from finetune_core.ui.search_panel import MODELS, SearchPanel


# ---- handlers (plain functions; the tests call them directly) ----------------------
def search(query: str, task_label: str, sort: str, page: int = 0, token: str | None = None):
    """Rows for the results table, a notice (offline and why, or an error), next page."""
    return search_panel.search(MODELS, query, task_label, sort, page, token)


def facts(model_id: str, num_labels: int = 2, token: str | None = None):
    """The model's card and layer groups with an N-class head; raises FinetuneError with
    one sentence when it cannot be used."""
    from finetune_core.model import check_weights, inspect_model
    from finetune_core.ui.hosting import too_big_warning
    from finetune_core.ui.state import ModelFacts

    model_id = (model_id or "").strip()
    if not model_id:
        raise FinetuneError("Enter a model id (owner/name) or pick one from the results.")
    refused = check_local_path(model_id)
    if refused:
        raise FinetuneError(refused)
    n = max(2, int(num_labels or 2))
    info = hub_cards.model_card(model_id, token=token or None, num_labels=n)
    check_weights(model_id, token or None)  # a repo without weights would fail only at Train
    summary = inspect_model(model_id, num_labels=n, token=token or None)
    groups = [{"name": g.name, "kind": g.kind, "params": g.params} for g in summary.groups]
    memory = info.memory.total if info.memory else None
    warn = too_big_warning(summary.total_params, memory, None) or ""
    card = card_markdown(info, summary, n)
    return ModelFacts(model_id, card, groups, n, warn, summary.max_tokens, info.model_type)


def public_facts(model_id: str, token: str | None = None) -> str:
    """What the Hub shows about a gated model before access (task, license, size): its repo
    info is public even when its files are not."""
    try:
        info = hub_cards.repo_info("model", model_id, token or None)
    except Exception:  # nothing public to add; the gated sentence stands alone
        return ""
    card_data = getattr(info, "card_data", None)
    license_ = getattr(card_data, "license", None) if card_data else None
    params = info.safetensors.total if getattr(info, "safetensors", None) else None
    parts = [
        f"task {info.pipeline_tag}" if info.pipeline_tag else "",
        f"license {_text(license_)}" if license_ else "",
        f"{human(params)} parameters" if params else "",
    ]
    shown = " · ".join(p for p in parts if p)
    return f"Public facts: {shown}." if shown else ""


def card(model_id: str, num_labels: Any = 2, token: str | None = None):
    """(card markdown, layer groups as dicts or None, notice) for a model id or folder."""
    try:
        f = facts(model_id, _int_or(num_labels, 2), token)
    except FinetuneError as exc:
        return "", None, message(str(exc))
    return f.card, f.groups, message(f.warn, WARN) if f.warn else ""


def _int_or(value: Any, default: int) -> int:
    try:
        n = int(float(value))
    except (TypeError, ValueError):
        return default
    return n if n >= 1 else default


def _text(value: Any) -> str:
    """A card fact as text: the real Hub gives licenses as lists sometimes."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value) if value else "-"


def card_markdown(info: Any, summary, num_labels: int = 2) -> str:
    """The info card: architecture, size, license, existing head, memory estimate."""
    if not info.has_head:
        head = f"none (a new {num_labels}-class head is added)"
    elif info.head_size and info.head_size != num_labels:
        head = f"{info.head_size} classes; it becomes a new {num_labels}-class head"
    elif info.head_size:
        head = f"{info.head_size} classes; a new {num_labels}-class head replaces it"
    else:  # the checkpoint has a classifier but does not say its size
        head = f"a classifier of unknown size; it becomes a new {num_labels}-class head"
    lines = [
        f"### {md_text(info.id)}",
        f"- architecture: **{md_text(info.architecture or '?')}** · task: {summary.task} · "
        f"pipeline tag: {md_text(_text(info.pipeline_tag))} · "
        f"license: {md_text(_text(info.license))}",
        f"- parameters: **{human(summary.total_params)}** in {len(summary.groups)} layer groups",
        f"- existing head: {head}",
    ]
    if info.memory:
        lines.append(f"- training memory (head only): {info.memory.human()}")
    if info.offline_reason:
        lines.append(f"- offline: {md_text(info.offline_reason)}")
    return "\n".join(lines)


# ---- layout -----------------------------------------------------------------------
@dataclass
class ModelStep:
    search: SearchPanel
    model_id: Any
    load: Any
    msg: Any
    card: Any


def render(shared: Shared) -> ModelStep:
    gr.Markdown(
        "Search the Hub for a pretrained model, or type any Hub id or local folder. "
        "Offline, the bundled **all-MiniLM-L6-v2** and local models are offered."
    )
    panel = search_panel.render(MODELS, shared.token)
    with gr.Row():
        model_id = form.widget("model", value=BUNDLED_MODEL, scale=4, elem_id="model-id")
        load = gr.Button("Use this model", variant="primary", scale=1, elem_id="model-load")
    msg = gr.HTML(elem_id="model-msg")
    info = gr.Markdown(elem_id="model-card")
    return ModelStep(panel, model_id, load, msg, info)
