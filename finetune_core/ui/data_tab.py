"""Step 2, the dataset: search or upload, see splits, a preview, detected columns and classes.

Every string that comes from the dataset (class names, column names, file names, cells) is
escaped before it reaches Markdown or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from finetune_core import charts
from finetune_core.errors import FinetuneError
from finetune_core.hub import dataset_cards as hub_datacard
from finetune_core.ui import form, search_panel, uploads
from finetune_core.ui.common import OK, Shared, check_local_path, md_text, message
from finetune_core.ui.form import COLUMN_KEYS, NONE
from finetune_core.ui.search_panel import DATASETS, SearchPanel

DEMO_DATASET = "assets/demo/support_tickets.csv"


def search(query: str, task_label: str, sort: str, page: int = 0, token: str | None = None):
    """Rows for the results table, a notice (offline and why, or an error), next page."""
    return search_panel.search(DATASETS, query, task_label, sort, page, token)


def upload(file_path: str | None) -> tuple[Any, str]:
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
    return info.to_dict() if hasattr(info, "to_dict") else dict(info)


@dataclass
class CardView:
    """What a loaded dataset shows: card text, preview rows, pickers, chart, thumbnails."""

    markdown: str
    headers: list[str]
    rows: list[list[Any]]
    columns: dict[str, tuple[list[str], str]]  # config key -> (choices, value)
    balance: Any
    thumbnails: list
    warn: str
    datatype: str | list[str] = "str"  # "html" for the preview's image column


def card_view(d: dict[str, Any]) -> CardView:
    features = d.get("features") or {}
    splits = d.get("splits") or {}
    names = [str(n) for n in d.get("label_names") or []]
    md = [
        f"### {md_text(d.get('id') or d.get('source') or d.get('dataset'))}",
        "- splits: "
        + ", ".join(
            f"**{md_text(k)}** ({v:,} rows)" if isinstance(v, int) else f"**{md_text(k)}**"
            for k, v in splits.items()
        ),
        "- columns: " + ", ".join(f"{md_text(k)} ({md_text(v)})" for k, v in features.items()),
        f"- classes ({len(names)}{_reading(d)}): "
        + (", ".join(md_text(n) for n in names[:30]) or "-")
        + (" …" if len(names) > 30 else ""),
    ]
    if d.get("label_note"):  # how the label column was read (a delimiter in some labels)
        md.append(f"- {md_text(d['label_note'])}")
    if d.get("configs") and len(d["configs"]) > 1:
        md.append("- configs: " + ", ".join(md_text(c) for c in d["configs"]))
    if d.get("imbalance"):
        md.append(f"- **{md_text(d['imbalance'])}**")
    preview = d.get("preview") or []
    label = d.get("label_column")
    rows = [[_cell(v, names if k == label else None) for k, v in r.items()] for r in preview]
    headers = list(preview[0]) if preview else list(features)
    counts = d.get("class_counts") or {}
    choices = [NONE, *features]
    columns = {
        key: (choices, d.get(key) if d.get(key) in features else NONE) for key in COLUMN_KEYS
    }
    warn = "" if label else "No label column was detected; pick one below."
    datatype: str | list[str] = "str"
    if d.get("thumbnails"):  # an image dataset: the preview shows the images themselves
        headers = [str(d.get("image_column") or "image"), str(label or "label")]
        rows = [[thumbnail_html(img), _cell(name)] for img, name in d["thumbnails"]]
        datatype = ["html", "str"]
    return CardView(
        markdown="\n".join(md),
        headers=headers or ["-"],
        rows=rows,
        columns=columns,
        balance=charts.class_balance_figure(counts) if counts else None,
        thumbnails=d.get("thumbnails") or [],
        warn=warn,
        datatype=datatype,
    )


def _reading(d: dict[str, Any]) -> str:
    """ ", multi-label, joined by ','" for the classes line."""
    if d.get("problem_type") != "multi_label":
        return ""
    joined = d.get("label_delimiter")
    return ", multi-label" + (f", joined by '{md_text(joined)}'" if joined else "")


def thumbnail_html(image: Any, size: int = 64) -> str:
    """A small image as an inline <img> (a data URI: no file is served); the page builds this
    markup itself, so a dataset string never reaches it."""
    import base64
    import io

    small = image.convert("RGB")
    small.thumbnail((size, size))
    buf = io.BytesIO()
    small.save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="" style="max-height:{size}px">'


def _cell(value: Any, names: list[str] | None = None) -> Any:
    """A preview cell as short text; a class index shows as its class name."""
    if names and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str | int | float | bool) or value is None:
        text = "" if value is None else str(value)
        return text if len(text) <= 200 else text[:200] + "…"
    return str(value)[:200]


def column_value(choice: str | None) -> str | None:
    return None if not choice or choice == NONE else choice


@dataclass
class DataStep:
    search: SearchPanel
    dataset: Any
    config: Any
    upload: Any
    load: Any
    msg: Any
    card: Any
    preview: Any
    columns: dict[str, Any]  # config key -> column picker
    gallery: Any
    balance: Any

    def card_outputs(self) -> list[Any]:
        return [self.card, self.preview, *self.columns.values(), self.gallery, self.balance]


def card_updates(view: CardView | None) -> list[Any]:
    """Updates for `DataStep.card_outputs()`; None leaves them as they are (a failed load)."""
    if view is None:
        return [gr.skip()] * (4 + len(COLUMN_KEYS))  # one per `DataStep.card_outputs()`
    return [
        view.markdown,
        gr.update(value=view.rows, headers=view.headers, datatype=view.datatype),
        *[gr.update(choices=c, value=v) for c, v in view.columns.values()],
        gr.update(value=view.thumbnails or None, visible=bool(view.thumbnails)),
        view.balance,
    ]


def render(shared: Shared) -> DataStep:
    gr.Markdown(
        "Search the Hub for a dataset, upload a CSV/JSON/Parquet file or a zip of an "
        "image folder (one sub-folder per class), or use the bundled demo."
    )
    panel = search_panel.render(DATASETS, shared.token)
    with gr.Row():
        dataset = form.widget("dataset", value=DEMO_DATASET, scale=3, elem_id="dataset-id")
        config = form.widget("dataset_config", scale=1)
        types = list(uploads.DATA_TYPES)
        up = gr.File(label="…or upload", file_types=types, scale=2, elem_id="dataset-upload")
    load = gr.Button("Use this dataset", variant="primary", elem_id="dataset-load")
    msg = gr.HTML(elem_id="data-msg")
    info = gr.Markdown(elem_id="dataset-card")
    preview = gr.Dataframe(
        value=[],
        interactive=False,
        label="Preview",
        max_height=240,
        wrap=True,
        elem_id="dataset-preview",
    )
    with gr.Row():
        columns = {key: form.widget(key) for key in COLUMN_KEYS}
    gallery = gr.Gallery(
        label="Sample images", columns=8, height=150, visible=False, elem_id="dataset-thumbnails"
    )
    balance = gr.Plot(label="Class balance", elem_id="class-balance")
    return DataStep(panel, dataset, config, up, load, msg, info, preview, columns, gallery, balance)
