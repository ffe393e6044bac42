"""Step 6, runs: past runs from the runs folder with status and final metrics; pick two or
more to overlay their curves. When hosted for others only this session's runs are listed."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from finetune_core import charts, runs
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui.common import hosted

HEADERS = ["run", "state", "model", "dataset", "accuracy", "macro F1", "started"]
METRICS = ["loss", "eval_loss", "eval_accuracy", "eval_f1_macro", "learning_rate"]


def visible_runs(owner: str | None) -> list[runs.RunView]:
    if hosted():
        return [
            runs.read_run(j.run_dir, metrics=False)
            for j in MANAGER.jobs_of(owner or "")
            if Path(j.run_dir).is_dir()
        ]
    return runs.list_runs()


def table(owner: str | None):
    rows, names = [], []
    for v in visible_runs(owner):
        ev = v.eval or {}
        state = v.state
        if v.status.get("interrupted"):
            state = "failed (interrupted)"
        rows.append(
            [
                v.path.name,
                state,
                str(v.config.get("model", "")),
                str(v.config.get("dataset", "")),
                f"{ev['accuracy']:.3f}" if "accuracy" in ev else "",
                f"{ev['f1_macro']:.3f}" if "f1_macro" in ev else "",
                v.status.get("started", ""),
            ]
        )
        names.append(v.path.name)
    return rows, gr.update(choices=names)


def overlay(owner: str | None, chosen: list[str] | None, key: str):
    by_name = {v.path.name: v.path for v in visible_runs(owner)}
    data = {n: runs.read_metrics(by_name[n]) for n in chosen or [] if n in by_name}
    return charts.overlay_figure(data, key=key or "loss")


def render(shared) -> None:
    refresh = gr.Button("Refresh", size="sm", elem_id="runs-refresh")
    listing = gr.Dataframe(
        headers=HEADERS,
        value=[],
        interactive=False,
        label="Runs",
        elem_id="runs-table",
        max_height=320,
    )
    with gr.Row():
        chosen = gr.Dropdown([], multiselect=True, label="Compare runs", scale=3)
        key = gr.Dropdown(METRICS, value="loss", label="Metric", scale=1)
    plot = gr.Plot(label="Overlay", elem_id="runs-overlay")
    refresh.click(table, [shared.owner], [listing, chosen])
    chosen.change(overlay, [shared.owner, chosen, key], [plot])
    key.change(overlay, [shared.owner, chosen, key], [plot])
    shared.extra.update(runs_refresh=(table, [shared.owner], [listing, chosen]))
