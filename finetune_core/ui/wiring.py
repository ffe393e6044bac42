"""Connects the steps' widgets to the events: every handler sits behind the boundary
(`common.on`) and returns its outputs by component ({widget: value}), every state change
re-renders the widgets that depend on the draft. Run-following handlers (Train, the poll,
Resume, Train more, page load) are in wiring_run.py."""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from finetune_core.ui import data_tab, events, form, state, train_tab
from finetune_core.ui.common import Shared, message, on
from finetune_core.ui.data_tab import DataStep
from finetune_core.ui.freeze_tab import LAST_N, FreezeStep
from finetune_core.ui.model_tab import ModelStep
from finetune_core.ui.results_tab import ResultsStep
from finetune_core.ui.runs_tab import RunsStep
from finetune_core.ui.search_panel import picked
from finetune_core.ui.state import Draft
from finetune_core.ui.train_tab import TrainStep

MARK = {True: "✓", False: "✗", None: "·"}


@dataclass
class Page:
    demo: Any
    shared: Shared
    summary: Any  # the summary bar
    tabs: Any
    model: ModelStep
    data: DataStep
    freeze: FreezeStep
    train: TrainStep
    results: ResultsStep
    runs: RunsStep
    timer: Any
    seen: Any  # metrics records drawn so far (the charts redraw only on a change)
    shown: Any  # gr.State: the live view's texts as last sent (only a change goes out)

    def form(self) -> dict[str, Any]:
        """Config key -> widget, for every key the page edits."""
        return {
            "model": self.model.model_id,
            "dataset": self.data.dataset,
            "dataset_config": self.data.config,
            **self.data.columns,
            "num_labels": self.freeze.num_labels,
            **self.train.fields,
        }

    def view_outputs(self) -> list[Any]:
        """The widgets rendered from the draft alone (`render_view`), the draft first."""
        f = self.freeze
        return [
            *(self.shared.draft, self.summary, self.model.card),
            *(f.num_labels, f.preset, f.last_n, f.note, f.summary, f.frozen, f.tree),
        ]


def summary_html(d: Draft) -> str:
    """The summary bar: what is chosen, where the run stands, a mark per step, and (when Train
    would refuse) why, in Train's own words."""
    marks = " ".join(f"{MARK[v]} {k}" for k, v in state.marks(d).items())
    why = state.problems(d) if not state.shown_run_state(d) else []
    reason = (
        f'<span class="ft-why"> · {html.escape(form.page_words(why[0]), quote=False)}</span>'
        if why and (d.model or d.data)
        else ""
    )
    return (
        f'<div class="ft-summary"><b>{html.escape(state.summary(d), quote=False)}</b>'
        f'<span class="ft-marks"> · {marks}</span>{reason}</div>'
    )


def render_view(page: Page, d: Draft) -> dict[Any, Any]:
    """{widget: value} for every widget that depends on the draft alone, the draft included."""
    f, v = page.freeze, state.freeze_view(d)
    return {
        page.shared.draft: d,
        page.summary: summary_html(d),
        page.model.card: d.model.card if d.model else "",
        f.num_labels: v["num_labels"],
        f.preset: v["preset"],
        f.last_n: gr.update(maximum=v["last_n_max"], visible=v["last_n_visible"]),
        f.note: v["note"],
        f.summary: v["summary"],
        f.frozen: gr.update(choices=v["choices"], value=v["frozen"]),
        f.tree: v["tree"],
    }


def wire(page: Page) -> None:
    s, m, dt, fz = page.shared, page.model, page.data, page.freeze
    view = page.view_outputs()
    max_len = page.train.fields["max_length"]
    card_out = dt.card_outputs()

    # 1 · model: Use this model, Enter, or a click on a results row; Max length follows the
    # model's limit (the engine refuses more)
    def use_model(d, model_id, length, token):
        new, msg = events.load_model(d, model_id, token)
        length, msg = events.fit_max_length(new, length, msg)
        return {**render_view(page, new), max_len: length, m.msg: msg}

    def model_row(d, rows, length, token, evt: gr.SelectData):
        model_id = picked(rows, evt)
        if not model_id:
            return {m.msg: gr.skip()}
        return {m.model_id: model_id, **use_model(d, model_id, length, token)}

    model_in = [s.draft, m.model_id, max_len, s.token]
    model_out = [*view, max_len, m.msg]
    for trigger in (m.load.click, m.model_id.submit):
        then_preview(page, on(trigger, use_model, model_in, model_out, msg=m.msg))
    row = on(
        m.search.table.select,
        model_row,
        [s.draft, m.search.table, max_len, s.token],
        [m.model_id, *model_out],
        msg=m.msg,
    )
    then_preview(page, row)

    # 2 · data
    def use_data(d, source, config, token):
        new, card, msg = events.load_data(d, source, config, token)
        cv = data_tab.card_view(card) if card is not None else None
        cards = dict(zip(card_out, data_tab.card_updates(cv), strict=True))
        return {**render_view(page, new), **cards, dt.msg: msg}

    data_in = [s.draft, dt.dataset, dt.config, s.token]
    data_out = [*view, *card_out, dt.msg]
    for trigger in (dt.load.click, dt.dataset.submit):
        then_preview(page, on(trigger, use_data, data_in, data_out, msg=dt.msg))

    def upload_and_use(d, path, config, token):
        """An uploaded file is saved, then used at once (a failed upload changes nothing)."""
        source, note = data_tab.upload(path)
        if not isinstance(source, str):
            return {dt.msg: note}
        return {dt.dataset: source, **use_data(d, source, config, token)}

    uploaded = on(
        dt.upload.upload,
        upload_and_use,
        [s.draft, dt.upload, dt.config, s.token],
        [dt.dataset, *data_out],
        msg=dt.msg,
    )
    then_preview(page, uploaded)

    def data_row(d, rows, config, token, evt: gr.SelectData):
        source = picked(rows, evt)
        if not source:
            return {dt.msg: gr.skip()}
        return {dt.dataset: source, **use_data(d, source, config, token)}

    picked_row = on(
        dt.search.table.select,
        data_row,
        [s.draft, dt.search.table, dt.config, s.token],
        [dt.dataset, *data_out],
        msg=dt.msg,
    )
    then_preview(page, picked_row)

    # 3 · head and freezing: only the user's own edits (.input), never a re-render
    def classes(d, text, token):
        new, msg = events.set_num_labels(d, text, token)
        return {**render_view(page, new), fz.msg: msg}

    for trigger in (fz.num_labels.submit, fz.num_labels.blur):
        on(trigger, classes, [s.draft, fz.num_labels, s.token], [*view, fz.msg], msg=fz.msg)
    on(
        fz.preset.input,
        lambda d, p, n: render_view(page, state.apply_preset(d, p, n)),
        [s.draft, fz.preset, fz.last_n],
        view,
    )
    on(
        fz.last_n.release,
        lambda d, n: render_view(page, state.apply_preset(d, LAST_N, n)),
        [s.draft, fz.last_n],
        view,
    )
    on(
        fz.frozen.input,
        lambda d, frozen: render_view(page, state.toggle(d, frozen)),
        [s.draft, fz.frozen],
        view,
    )
    loads = Loads(use_model, model_in, model_out, use_data, data_in, data_out)
    wire_form(page, loads)
    from finetune_core.ui import wiring_run

    wiring_run.wire(page, loads)


@dataclass
class Loads:
    """The model and data loads, so a filled form (a config file, a reload) can run them."""

    use_model: Any
    model_in: list
    model_out: list
    use_data: Any
    data_in: list
    data_out: list


def then_preview(page: Page, dep):
    """After `dep`: the YAML, the command line and run.yaml for the form as it is now, so they
    are never empty (the page load, every model or data load, Train)."""
    widgets = page.form()
    keys, tr = list(widgets), page.train

    def do_preview(d, *vals):
        values = dict(zip(keys, vals, strict=True))
        y, cli, path = train_tab.preview({**values, "frozen": d.freeze}, d.groups)
        return {tr.yaml_box: y, tr.cli_box: cli, tr.config_dl: path}

    inputs = [page.shared.draft, *widgets.values()]
    outputs = [tr.yaml_box, tr.cli_box, tr.config_dl]
    trigger = dep.then if hasattr(dep, "then") else dep
    return on(trigger, do_preview, inputs, outputs, show_progress="hidden")


def wire_form(page: Page, loads: Loads) -> None:
    s, tr = page.shared, page.train
    widgets = page.form()
    keys, inputs = list(widgets), list(widgets.values())
    then_preview(page, tr.config_refresh.click)

    # a config file fills the form; the model and data named in it are then loaded
    def upload(d, path):
        cfg, err = train_tab.config_upload(path)
        if cfg is None:
            return {tr.msg: events.say(err) if err else ""}
        values = form.to_values(cfg)
        pending = replace(d, pending_freeze=cfg.freeze, num_labels=cfg.num_labels)
        note = message("Form filled from the config file.", "ok")
        return {s.draft: pending, **{widgets[k]: values[k] for k in keys}, tr.msg: note}

    up = on(
        tr.config_up.upload,
        upload,
        [s.draft, tr.config_up],
        [s.draft, *inputs, tr.msg],
        msg=tr.msg,
        show_progress="hidden",
    )
    then_load(page, up, loads)


def then_load(page: Page, dep, loads: Loads):
    """After the form was filled: load the model and the dataset it names, then the preview."""
    model_msg, data_msg = loads.model_out[-1], loads.data_out[-1]
    dep = on(
        dep.then,
        loads.use_model,
        loads.model_in,
        loads.model_out,
        msg=model_msg,
        show_progress="minimal",
    )
    dep = on(
        dep.then,
        loads.use_data,
        loads.data_in,
        loads.data_out,
        msg=data_msg,
        show_progress="minimal",
    )
    return then_preview(page, dep)
