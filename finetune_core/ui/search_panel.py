"""One search panel for models and datasets: query, task filter, sort, results, more pages.

The two differ only in a `SearchKind` (which search, which task filter, one size column);
the step that owns the panel decides what a click on a row does (it applies the row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from finetune_core import hub
from finetune_core.errors import FinetuneError
from finetune_core.ui.common import WARN, count, human, message

SORTS = ["downloads", "likes", "trending", "updated"]
PAGE = 20


@dataclass(frozen=True)
class SearchKind:
    what: str  # "models" | "datasets"
    elem: str  # element-id prefix: "model" | "data"
    search: Callable[..., Any]
    tasks: dict[str, str | None]  # label on the page -> the search's task filter
    size_column: str
    size_of: Callable[[Any], str]
    offline_extra: str
    placeholder: str


MODELS = SearchKind(
    what="models",
    elem="model",
    search=lambda **kw: hub.search_models(**kw),
    tasks={
        "any backbone": "backbone",
        "text classification": "text-classification",
        "image classification": "image-classification",
    },
    size_column="params",
    size_of=lambda h: human(h.params) if h.params else "-",
    offline_extra="local and bundled models",
    placeholder="bert, vit, minilm …",
)
DATASETS = SearchKind(
    what="datasets",
    elem="data",
    search=lambda **kw: hub.search_datasets(**kw),
    tasks={
        "any": None,
        "text classification": "text-classification",
        "image classification": "image-classification",
    },
    size_column="size",
    size_of=lambda h: h.size_category or "-",
    offline_extra="local datasets and the demo",
    placeholder="sentiment, emotion, beans …",
)


def columns(kind: SearchKind) -> list[str]:
    return ["id", "task", "downloads", "likes", kind.size_column, "updated", "source"]


def row(kind: SearchKind, h: Any) -> list[str]:
    """One results row; a gated repo is marked on its id, a missing count shows as "-"."""
    task = getattr(h, "task", None) or ", ".join(getattr(h, "task_categories", None) or [])
    gated = " (gated)" if getattr(h, "gated", False) else ""
    return [
        f"{h.id}{gated}",
        task or "-",
        count(h.downloads) or "-",
        count(h.likes) or "-",
        kind.size_of(h),
        h.last_modified or "-",
        h.source,
    ]


def repo_id_of(cell: Any) -> str:
    """The id in a results row's first cell, without the "(gated)" mark."""
    return str(cell).removesuffix(" (gated)").strip()


def search(
    kind: SearchKind,
    query: str,
    task_label: str,
    sort: str,
    page: int = 0,
    token: str | None = None,
) -> tuple[list[list[str]], str, int | None]:
    """(rows, notice, next page): a notice says when the answer came from offline sources,
    found nothing, or failed."""
    try:
        result = kind.search(
            query=query or "",
            task=kind.tasks.get(task_label),
            sort=sort if sort in SORTS else "downloads",
            limit=PAGE,
            page=int(page or 0),
            token=token or None,
        )
    except FinetuneError as exc:
        return [], message(str(exc)), None
    rows = [row(kind, hit) for hit in result.results]
    notice = ""
    if result.offline:
        notice = message(f"Offline: {result.reason}. Showing {kind.offline_extra}.", WARN)
    elif not rows:
        notice = message(f"No {kind.what} match; try other words or another task filter.", WARN)
    return rows, notice, result.next_page


def picked(rows: Any, evt: gr.SelectData) -> str | None:
    """The repo id of the clicked results row (None when the click was not on a row)."""
    row_ = evt.row_value if evt.row_value else None
    if row_ is None and rows is not None:
        values = rows.values.tolist() if hasattr(rows, "values") else rows
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        row_ = values[index] if isinstance(index, int) and 0 <= index < len(values) else None
    return repo_id_of(row_[0]) if row_ else None


@dataclass
class SearchPanel:
    query: Any
    task: Any
    sort: Any
    button: Any
    notice: Any
    table: Any
    page: Any
    more: Any


def render(kind: SearchKind, token: Any) -> SearchPanel:
    """The panel's widgets and its own wiring (search, more pages)."""
    with gr.Row():
        query = gr.Textbox(label=f"Search {kind.what}", placeholder=kind.placeholder, scale=3)
        task = gr.Dropdown(list(kind.tasks), value=next(iter(kind.tasks)), label="Task", scale=1)
        sort = gr.Dropdown(SORTS, value="downloads", label="Sort by", scale=1)
        button = gr.Button("Search", scale=0, elem_id=f"{kind.elem}-search-btn")
    notice = gr.HTML()
    table = gr.Dataframe(
        headers=columns(kind),
        value=[],
        interactive=False,
        label="Results (click a row to use it)",
        elem_id=f"{kind.elem}-results",
        max_height=300,
    )
    page = gr.State(0)
    more = gr.Button("More results", size="sm", visible=False)
    panel = SearchPanel(query, task, sort, button, notice, table, page, more)

    def first(q, t, s, tok):
        rows, note, nxt = search(kind, q, t, s, 0, tok)
        return rows, note, 0, gr.update(visible=nxt is not None)

    def next_page(q, t, s, p, rows, tok):
        new_rows, note, nxt = search(kind, q, t, s, int(p) + 1, tok)
        old = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
        return old + new_rows, note, int(p) + 1, gr.update(visible=nxt is not None)

    outs = [table, notice, page, more]
    for trigger in (query.submit, button.click, task.input, sort.input):
        trigger(first, [query, task, sort, token], outs)
    more.click(next_page, [query, task, sort, page, table, token], outs)
    return panel
