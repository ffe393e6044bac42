"""Step 6, runs: past runs from the runs folder with status and final metrics; pick two or
more to overlay their curves. Locally the single user owns every run in the folder; hosted for
others, a visitor sees only their own runs (jobs/ownership.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import charts, runs
from finetune_core.errors import FinetuneError
from finetune_core.jobs import cleanup
from finetune_core.jobs.manager import MANAGER
from finetune_core.runs import records
from finetune_core.ui import run_notes
from finetune_core.ui.common import OK, hosted, message, on

HEADERS = ["run", "name", "state", "model", "dataset", "accuracy", "macro F1", "started"]
METRICS = ["loss", "eval_loss", "eval_accuracy", "eval_f1_macro", "learning_rate"]
X_AXES = ["step", "epoch", "time"]


def visible_runs(owner: str | None) -> list[runs.RunView]:
    if hosted():
        return [
            runs.read_run(j.run_dir, metrics=False)
            for j in MANAGER.jobs_of(owner or "")
            if Path(j.run_dir).is_dir()
        ]
    return runs.list_runs()


def table(owner: str | None, views: list[runs.RunView] | None = None):
    """Rows of the runs table and the compare choices."""
    rows, names = [], []
    for v in visible_runs(owner) if views is None else views:
        state = v.state
        ev = v.eval or records.last_eval(runs.read_metrics(v.path))  # only a row that shows it
        rows.append(
            [
                v.path.name,
                run_notes.read(v.path)["name"],
                state,
                str(v.config.get("model", "")),
                str(v.config.get("dataset", "")),
                f"{ev['accuracy']:.3f}" if "accuracy" in ev else "",
                f"{ev['f1_macro']:.3f}" if "f1_macro" in ev else "",
                _date(v.status.started),
            ]
        )
        names.append(v.path.name)
    return rows, gr.update(choices=names)


def yours(owner: str | None, view: runs.RunView) -> bool:
    """Locally every run is the single user's; hosted, the runs this visitor started."""
    return not hosted() or MANAGER.owns_run(owner or "", view.path)


def deletable(owner: str | None, view: runs.RunView) -> bool:
    """Your own finished runs; never a queued or running one."""
    return not view.status.active and yours(owner, view)


def editable(owner: str | None, views: list[runs.RunView] | None = None):
    """The runs whose name and note this browser may edit (its own), for the picker."""
    views = visible_runs(owner) if views is None else views
    return gr.update(choices=[v.path.name for v in views if yours(owner, v)])


def listing(owner: str | None):
    """(table rows, compare choices, notes picker) from one read of the runs folder."""
    views = visible_runs(owner)
    return (*table(owner, views), editable(owner, views))


def notes_of(owner: str | None, name: str | None) -> tuple[str, str, str]:
    """(name, note, notice) of one of your runs, to edit."""
    view = _own(owner, name)
    if view is None:
        return "", "", message("Pick one of your runs.") if name else ""
    got = run_notes.read(view.path)
    return got["name"], got["note"], ""


def save_notes(owner: str | None, name: str | None, title: str, note: str):
    """Save the picked run's name and note; (table rows, compare choices, notice)."""
    view = _own(owner, name)
    if view is None:
        return (*table(owner), message("Pick one of your runs to name it."))
    try:
        run_notes.write(view.path, title, note)
    except FinetuneError as exc:
        return (*table(owner), message(str(exc)))
    return (*table(owner), message(f"Saved the name and note of {view.path.name}.", OK))


def _own(owner: str | None, name: str | None) -> runs.RunView | None:
    view = next((v for v in visible_runs(owner) if v.path.name == name), None)
    return view if view is not None and yours(owner, view) else None


def delete(owner: str | None, chosen: list[str] | None, sure: bool):
    """Delete the chosen runs that are yours; (table rows, compare choices, notice)."""
    if not chosen:
        return (*table(owner), message("Pick the runs to delete under “Compare runs”."))
    if not sure:
        return (*table(owner), message("Tick “Yes, delete” first: deleted runs are gone."))
    by_name = {v.path.name: v for v in visible_runs(owner)}
    jobs = {j.run_dir.resolve(): j for j in MANAGER.jobs_of(owner or "")}
    gone, kept = [], []
    for name in chosen:
        view = by_name.get(name)
        if view is not None and deletable(owner, view):
            job = jobs.get(view.path.resolve())
            try:  # with what it alone used: its upload, exports and tracker records
                if job is not None:
                    cleanup.delete_job(MANAGER, job, owner or "")
                else:  # a run of an earlier server that this one did not rebuild
                    cleanup.delete_run(view.path)
            except FinetuneError:
                kept.append(name)
                continue
            gone.append(name)
        else:
            kept.append(name)
    note = message(f"Deleted {len(gone)} run(s).", OK) if gone else ""
    if kept:
        note += message(f"Not deleted (running, or not yours): {', '.join(kept)}.")
    return (*table(owner), note)


def _date(iso: str | None) -> str:
    """ISO 8601 UTC as "2026-12-01 15:03 UTC"."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(iso or "")


def overlay(owner: str | None, chosen: list[str] | None, key: str, x: str = "step"):
    """Curves of the chosen runs (only runs this visitor may see are read)."""
    by_name = {v.path.name: v.path for v in visible_runs(owner)}
    data = {n: runs.read_metrics(by_name[n]) for n in chosen or [] if n in by_name}
    return charts.overlay_figure(data, key=key or "loss", x=x if x in X_AXES else "step")


@dataclass
class RunsStep:
    refresh: Any
    listing: Any
    chosen: Any
    notes_run: Any  # the picker of the run to name


def render(shared) -> RunsStep:
    refresh = gr.Button("Refresh", size="sm", elem_id="runs-refresh")
    runs_table = gr.Dataframe(
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
        x = gr.Radio(X_AXES, value="step", label="x-axis", scale=1)
    plot = gr.Plot(label="Overlay", elem_id="runs-overlay")
    with gr.Row():
        sure = gr.Checkbox(label="Yes, delete", value=False, scale=1)
        delete_btn = gr.Button("Delete the chosen runs", variant="stop", size="sm", scale=1)
    msg = gr.HTML(elem_id="runs-msg")
    with gr.Accordion("Name or note a run", open=False):
        with gr.Row():
            notes_run = gr.Dropdown([], label="Your run", scale=2, elem_id="notes-run")
            title = gr.Textbox(label="Name", max_length=run_notes.MAX_NAME, scale=2)
            save = gr.Button("Save", size="sm", scale=1, elem_id="notes-save")
        note = gr.Textbox(label="Note", lines=2, max_length=run_notes.MAX_NOTE)
    on(refresh.click, listing, [shared.owner], [runs_table, chosen, notes_run])
    on(notes_run.input, notes_of, [shared.owner, notes_run], [title, note, msg], msg=msg)
    on(
        save.click,
        save_notes,
        [shared.owner, notes_run, title, note],
        [runs_table, chosen, msg],
        msg=msg,
    )
    on(
        delete_btn.click,
        _delete,  # and "Yes, delete" unticked
        [shared.owner, chosen, sure],
        [runs_table, chosen, msg, sure],
        msg=msg,
    )
    for trigger in (chosen.change, key.change, x.change):
        on(trigger, overlay, [shared.owner, chosen, key, x], [plot])
    return RunsStep(refresh, runs_table, chosen, notes_run)


def _delete(owner: str | None, chosen: list[str] | None, sure: bool):
    """The page's Delete: delete(), then "Yes, delete" unticked. Named: the page's events are
    reached by name (`/_delete`), by the page itself and by the hosted attack tests."""
    return (*delete(owner, chosen, sure), False)
