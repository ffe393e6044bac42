"""Step 1, the model: search the Hub (or offline sources), pick one, see its card and groups."""

from __future__ import annotations

from typing import Any

import gradio as gr

from finetune_core import hub
from finetune_core.errors import FinetuneError
from finetune_core.hub import model_cards as hub_cards
from finetune_core.model import BUNDLED_MODEL
from finetune_core.ui.common import (
    WARN,
    Shared,
    check_local_path,
    count,
    human,
    message,
    search_table,
)

MODEL_TASKS = {
    "any backbone": "backbone",
    "text classification": "text-classification",
    "image classification": "image-classification",
}
SORTS = ["downloads", "likes", "trending", "updated"]
COLUMNS = ["id", "task", "downloads", "likes", "params", "updated", "source"]
PAGE = 20


# ---- handlers (plain functions; the tests call them directly) ----------------------
def search(query: str, task_label: str, sort: str, page: int = 0, token: str | None = None):
    """Rows for the results table, a notice (offline and why, or an error), next page."""
    return search_table(
        hub.search_models,
        _row,
        "models",
        "local and bundled models",
        query=query or "",
        task=MODEL_TASKS.get(task_label),
        sort=sort,
        limit=PAGE,
        page=page,
        token=token or None,
    )


def _row(h) -> list:
    params = human(h.params) if h.params else ""
    return [
        h.id,
        h.task or "",
        count(h.downloads),
        count(h.likes),
        params,
        h.last_modified or "",
        h.source,
    ]


def card(model_id: str, num_labels: Any = 2, batch_size: Any = 16, token: str | None = None):
    """Markdown info card and the layer groups (as dicts) for a model id or folder."""
    model_id = (model_id or "").strip()
    num_labels = _int_or(num_labels, 2)
    batch_size = _int_or(batch_size, 16)
    if not model_id:
        return "", None, message("Enter a model id (owner/name) or pick one from the results.")
    refused = check_local_path(model_id)
    if refused:
        return "", None, message(refused)
    try:
        info = hub_cards.model_card(
            model_id,
            token=token or None,
            num_labels=int(num_labels or 2),
            batch_size=int(batch_size or 16),
        )
        from finetune_core.model import inspect_model

        summary = inspect_model(model_id, num_labels=int(num_labels or 2), token=token or None)
    except FinetuneError as exc:
        return "", None, message(str(exc))
    groups = [{"name": g.name, "kind": g.kind, "params": g.params} for g in summary.groups]
    from finetune_core.ui.hosting import too_big_warning

    memory = info.memory.total if info.memory else None
    warn = too_big_warning(summary.total_params, memory, None)
    return card_markdown(info, summary), groups, message(warn, WARN) if warn else ""


def _int_or(value: Any, default: int) -> int:
    try:
        n = int(float(value))
    except (TypeError, ValueError):
        return default
    return n if n >= 1 else default


def card_markdown(info: Any, summary) -> str:
    """The info card: architecture, size, license, existing head, memory estimate."""
    head = (
        f"{info.head_size} classes (it will be replaced by the new head)"
        if info.has_head
        else "none (a new head is added)"
    )
    lines = [
        f"### {info.id}",
        f"- architecture: **{info.architecture or '?'}** · task: {summary.task} · "
        f"pipeline tag: {info.pipeline_tag or '—'} · license: {info.license or '—'}",
        f"- parameters: **{human(summary.total_params)}** in {len(summary.groups)} layer groups",
        f"- existing head: {head}",
    ]
    if info.memory:
        lines.append(f"- training memory (head only): {info.memory.human()}")
    if info.offline_reason:
        lines.append(f"- offline: {info.offline_reason}")
    return "\n".join(lines)


def pick_row(rows: Any, evt: gr.SelectData) -> str:
    """Selecting a results row fills the model box with its id."""
    row = evt.row_value if evt.row_value else None
    if row is None and rows is not None:
        values = rows.values.tolist() if hasattr(rows, "values") else rows
        row = values[evt.index[0]]
    return str(row[0]) if row else gr.skip()


# ---- layout -----------------------------------------------------------------------
def render(shared: Shared) -> None:
    gr.Markdown(
        "Search the Hub for a pretrained model, or type any Hub id or local folder. "
        "Offline, the bundled **all-MiniLM-L6-v2** and local models are offered."
    )
    with gr.Row():
        query = gr.Textbox(label="Search models", placeholder="bert, vit, minilm …", scale=3)
        task = gr.Dropdown(list(MODEL_TASKS), value="any backbone", label="Task", scale=1)
        sort = gr.Dropdown(SORTS, value="downloads", label="Sort by", scale=1)
        go_btn = gr.Button("Search", variant="secondary", scale=0, elem_id="model-search-btn")
    notice = gr.HTML()
    table = gr.Dataframe(
        headers=COLUMNS,
        value=[],
        interactive=False,
        label="Results (click a row to pick it)",
        elem_id="model-results",
        max_height=320,
    )
    page = gr.State(0)
    more = gr.Button("More results", size="sm", visible=False)
    with gr.Row():
        model_id = gr.Textbox(
            label="Model (Hub id or local folder)", value=BUNDLED_MODEL, scale=4, elem_id="model-id"
        )
        load_btn = gr.Button("Use this model", variant="primary", scale=1, elem_id="model-load")
    model_msg = gr.HTML()
    info = gr.Markdown(elem_id="model-card")
    shared.fields["model"] = model_id
    shared.extra["model_msg"] = model_msg

    def do_search(q, t, s, token):
        rows, note, nxt = search(q, t, s, 0, token)
        return rows, note, 0, gr.update(visible=nxt is not None)

    def do_more(q, t, s, p, rows, token):
        new_rows, note, nxt = search(q, t, s, int(p) + 1, token)
        old = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
        return old + new_rows, note, int(p) + 1, gr.update(visible=nxt is not None)

    inputs = [query, task, sort, shared.token]
    for trigger in (query.submit, go_btn.click, task.change, sort.change):
        trigger(do_search, inputs, [table, notice, page, more])
    more.click(do_more, [query, task, sort, page, table, shared.token], [table, notice, page, more])
    table.select(pick_row, [table], [model_id])

    shared.extra.update(model_load=load_btn, model_info=info)
