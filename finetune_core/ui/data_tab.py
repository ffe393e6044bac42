"""Step 2, the dataset: search or upload, see splits, a preview, detected columns and classes."""

from __future__ import annotations

from typing import Any

import gradio as gr

from finetune_core import charts, hub
from finetune_core.errors import FinetuneError
from finetune_core.hub import dataset_cards as hub_datacard
from finetune_core.ui import uploads
from finetune_core.ui.common import (
    OK,
    WARN,
    Shared,
    check_local_path,
    count,
    message,
    search_table,
)

DATA_TASKS = {
    "any": None,
    "text classification": "text-classification",
    "image classification": "image-classification",
}
COLUMNS = ["id", "task", "downloads", "likes", "size", "updated", "source"]
DEMO_DATASET = "assets/demo/support_tickets.csv"
NONE = "(none)"


def search(query: str, task_label: str, sort: str, page: int = 0, token: str | None = None):
    """Rows for the results table, a notice (offline and why, or an error), next page."""
    return search_table(
        hub.search_datasets,
        _row,
        "datasets",
        "local datasets and the demo",
        query=query or "",
        task=DATA_TASKS.get(task_label),
        sort=sort,
        limit=20,
        page=page,
        token=token or None,
    )


def _row(h) -> list:
    return [
        h.id,
        h.task or "",
        count(h.downloads),
        count(h.likes),
        h.size_category or "",
        h.last_modified or "",
        h.source,
    ]


def upload(file_path: str | None) -> tuple[str, str]:
    """Save an uploaded file (zip: an image folder) and return (dataset path, notice)."""
    if not file_path:
        return gr.skip(), ""
    try:
        saved = uploads.save_data_upload(file_path)
    except FinetuneError as exc:
        return gr.skip(), message(str(exc))
    return str(saved), message(f"Uploaded: {saved.name}", OK)


def card(source: str, config: str | None = None, token: str | None = None) -> dict[str, Any]:
    """Everything the dataset card shows, as plain values (a dict the tests can read)."""
    source = (source or "").strip()
    if not source:
        return {"error": "Enter a dataset id, upload a file, or pick one from the results."}
    refused = check_local_path(source)
    if refused:
        return {"error": refused}
    try:
        info = hub_datacard.dataset_card(source, config=config or None, token=token or None)
    except FinetuneError as exc:
        return {"error": str(exc)}
    d = info.to_dict() if hasattr(info, "to_dict") else dict(info)
    return d


def card_outputs(d: dict[str, Any]):
    """Card dict -> markdown, preview, 3 column pickers, balance chart, thumbnails, class count,
    notice."""
    if d.get("error"):
        skip = gr.update()
        return "", None, skip, skip, skip, None, gr.update(visible=False), skip, message(d["error"])
    features = d.get("features") or {}
    choices = [NONE, *features]
    splits = d.get("splits") or {}
    names = d.get("label_names") or []
    md = [
        f"### {d.get('id') or d.get('source') or d.get('dataset')}",
        "- splits: "
        + ", ".join(
            f"**{k}** ({v:,} rows)" if isinstance(v, int) else f"**{k}**" for k, v in splits.items()
        ),
        "- columns: " + ", ".join(f"`{k}` ({v})" for k, v in features.items()),
        f"- classes ({len(names)}): "
        + (", ".join(names[:30]) or "—")
        + (" …" if len(names) > 30 else ""),
    ]
    if d.get("configs") and len(d["configs"]) > 1:
        md.append("- configs: " + ", ".join(d["configs"]))
    preview = d.get("preview") or []
    rows = [[_cell(v) for v in r.values()] for r in preview]
    headers = list(preview[0]) if preview else list(features)
    counts = d.get("class_counts") or {}
    fig = charts.class_balance_figure(counts) if counts else None

    def pick(key: str):
        value = d.get(key)
        return gr.update(choices=choices, value=value if value in features else NONE)

    table = gr.update(value=rows, headers=headers) if rows else gr.update(value=[], headers=["—"])
    thumbs = d.get("thumbnails") or []
    warn = (
        ""
        if d.get("label_column")
        else message("No label column was detected; pick one below.", WARN)
    )
    return (
        "\n".join(md),
        table,
        pick("text_column"),
        pick("image_column"),
        pick("label_column"),
        fig,
        gr.update(value=thumbs, visible=True) if thumbs else gr.update(value=None, visible=False),
        str(len(names)) if names else gr.update(),
        warn,
    )


def _cell(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        text = "" if value is None else str(value)
        return text if len(text) <= 200 else text[:200] + "…"
    return str(value)[:200]


def column_value(choice: str | None) -> str | None:
    return None if not choice or choice == NONE else choice


def render(shared: Shared) -> None:
    gr.Markdown(
        "Search the Hub for a dataset, upload a CSV/JSON/Parquet file or a zip of an "
        "image folder (one sub-folder per class), or use the bundled demo."
    )
    with gr.Row():
        query = gr.Textbox(
            label="Search datasets", placeholder="sentiment, emotion, beans …", scale=3
        )
        task = gr.Dropdown(list(DATA_TASKS), value="any", label="Task", scale=1)
        sort = gr.Dropdown(
            ["downloads", "likes", "trending", "updated"],
            value="downloads",
            label="Sort by",
            scale=1,
        )
        go_btn = gr.Button("Search", scale=0, elem_id="data-search-btn")
    notice = gr.HTML()
    table = gr.Dataframe(
        headers=COLUMNS,
        value=[],
        interactive=False,
        max_height=280,
        label="Results (click a row to pick it)",
        elem_id="data-results",
    )
    with gr.Row():
        dataset = gr.Textbox(
            label="Dataset (Hub id, file or folder)",
            value=DEMO_DATASET,
            scale=3,
            elem_id="dataset-id",
        )
        config = gr.Textbox(label="Config (optional)", scale=1)
        up = gr.File(
            label="…or upload",
            file_types=list(uploads.DATA_TYPES),
            scale=2,
            elem_id="dataset-upload",
        )
    load_btn = gr.Button("Use this dataset", variant="primary", elem_id="dataset-load")
    data_msg = gr.HTML()
    info = gr.Markdown(elem_id="dataset-card")
    preview = gr.Dataframe(value=[], interactive=False, label="Preview", max_height=240, wrap=True)
    with gr.Row():
        text_col = gr.Dropdown([NONE], value=NONE, label="Text column", allow_custom_value=True)
        image_col = gr.Dropdown([NONE], value=NONE, label="Image column", allow_custom_value=True)
        label_col = gr.Dropdown([NONE], value=NONE, label="Label column", allow_custom_value=True)
    gallery = gr.Gallery(
        label="Sample images", columns=8, height=150, visible=False, elem_id="dataset-thumbnails"
    )
    balance = gr.Plot(label="Class balance", elem_id="class-balance")

    def do_search(q, t, s, token):
        rows, note, _ = search(q, t, s, 0, token)
        return rows, note

    for trigger in (query.submit, go_btn.click, task.change):
        trigger(do_search, [query, task, sort, shared.token], [table, notice])

    def pick_row(rows, evt: gr.SelectData):
        row = evt.row_value or (rows.values.tolist()[evt.index[0]] if rows is not None else None)
        return str(row[0]) if row else gr.skip()

    table.select(pick_row, [table], [dataset])
    up.upload(upload, [up], [dataset, data_msg])

    shared.fields.update(
        dataset=dataset,
        dataset_config=config,
        text_column=text_col,
        image_column=image_col,
        label_column=label_col,
    )
    shared.extra.update(
        dataset_load=load_btn,
        dataset_outputs=[info, preview, text_col, image_col, label_col, balance, gallery],
        data_msg=data_msg,
    )
