"""Connects the steps' widgets to the events: every handler sits behind the boundary
(`common.on`), every state change re-renders the widgets that depend on the draft."""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from finetune_core import runs
from finetune_core.errors import FinetuneError
from finetune_core.ui import data_tab, events, form, results_tab, runs_tab, state, train_tab
from finetune_core.ui.common import Shared, message, on
from finetune_core.ui.data_tab import DataStep
from finetune_core.ui.freeze_tab import LAST_N, FreezeStep
from finetune_core.ui.model_tab import ModelStep
from finetune_core.ui.results_tab import ResultsStep
from finetune_core.ui.runs_tab import RunsStep
from finetune_core.ui.search_panel import picked
from finetune_core.ui.state import Draft
from finetune_core.ui.train_tab import TrainStep, progress_html

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

    def view(self) -> list[Any]:
        """The widgets rendered from the draft alone (`render_view`)."""
        f = self.freeze
        return [self.summary, self.model.card, f.num_labels, f.preset, f.last_n, f.note]

    def freeze_view(self) -> list[Any]:
        f = self.freeze
        return [f.summary, f.frozen, f.tree]


def summary_html(d: Draft) -> str:
    """The summary bar: what is chosen, where the run stands, a mark per step."""
    marks = " ".join(f"{MARK[v]} {k}" for k, v in state.marks(d).items())
    return (
        f'<div class="ft-summary"><b>{html.escape(state.summary(d), quote=False)}</b>'
        f'<span class="ft-marks"> · {marks}</span></div>'
    )


def render_view(d: Draft) -> list[Any]:
    v = state.freeze_view(d)
    return [
        summary_html(d),
        d.model.card if d.model else "",
        v["num_labels"],
        v["preset"],
        gr.update(maximum=v["last_n_max"], visible=v["last_n_visible"]),
        v["note"],
        v["summary"],
        gr.update(choices=v["choices"], value=v["frozen"]),
        v["tree"],
    ]


def wire(page: Page) -> None:
    s, m, dt, fz = page.shared, page.model, page.data, page.freeze
    view = [s.draft, *page.view(), *page.freeze_view()]
    max_len = page.train.fields["max_length"]

    # 1 · model: Use this model, Enter, or a click on a results row; Max length follows the
    # model's limit (the engine refuses more)
    def use_model(d, model_id, length, token):
        new, msg = events.load_model(d, model_id, token)
        length, msg = events.fit_max_length(new, length, msg)
        return [new, *render_view(new), length, msg]

    def model_row(d, rows, length, token, evt: gr.SelectData):
        model_id = picked(rows, evt)
        if not model_id:
            return [gr.skip()] * (3 + len(view))
        return [model_id, *use_model(d, model_id, length, token)]

    model_in = [s.draft, m.model_id, max_len, s.token]
    for trigger in (m.load.click, m.model_id.submit):
        on(trigger, use_model, model_in, [*view, max_len, m.msg], msg=m.msg)
    on(
        m.search.table.select,
        model_row,
        [s.draft, m.search.table, max_len, s.token],
        [m.model_id, *view, max_len, m.msg],
        msg=m.msg,
    )

    # 2 · data
    card_out = dt.card_outputs()

    def use_data(d, source, config, token):
        new, card, msg = events.load_data(d, source, config, token)
        cv = data_tab.card_view(card) if card is not None else None
        return [new, *render_view(new), *data_tab.card_updates(cv), msg]

    data_in = [s.draft, dt.dataset, dt.config, s.token]
    for trigger in (dt.load.click, dt.dataset.submit):
        on(trigger, use_data, data_in, [*view, *card_out, dt.msg], msg=dt.msg)

    def upload_and_use(d, path, config, token):
        """An uploaded file is saved, then used at once (a failed upload changes nothing)."""
        source, note = data_tab.upload(path)
        if not isinstance(source, str):
            return [gr.skip()] * (1 + len(view) + len(card_out)) + [note]
        return [source, *use_data(d, source, config, token)]

    on(
        dt.upload.upload,
        upload_and_use,
        [s.draft, dt.upload, dt.config, s.token],
        [dt.dataset, *view, *card_out, dt.msg],
        msg=dt.msg,
    )

    def data_row(d, rows, config, token, evt: gr.SelectData):
        source = picked(rows, evt)
        if not source:
            return [gr.skip()] * (2 + len(view) + len(card_out))
        return [source, *use_data(d, source, config, token)]

    on(
        dt.search.table.select,
        data_row,
        [s.draft, dt.search.table, dt.config, s.token],
        [dt.dataset, *view, *card_out, dt.msg],
        msg=dt.msg,
    )

    # 3 · head and freezing: only the user's own edits (.input), never a re-render
    def classes(d, text, token):
        new, msg = events.set_num_labels(d, text, token)
        return [new, *render_view(new), msg]

    for trigger in (fz.num_labels.submit, fz.num_labels.blur):
        on(trigger, classes, [s.draft, fz.num_labels, s.token], [*view, fz.msg], msg=fz.msg)
    on(
        fz.preset.input,
        lambda d, p, n: [(new := state.apply_preset(d, p, n)), *render_view(new)],
        [s.draft, fz.preset, fz.last_n],
        view,
    )
    on(
        fz.last_n.release,
        lambda d, n: [(new := state.apply_preset(d, LAST_N, n)), *render_view(new)],
        [s.draft, fz.last_n],
        view,
    )
    on(
        fz.frozen.input,
        lambda d, frozen: [(new := state.toggle(d, frozen)), *render_view(new)],
        [s.draft, fz.frozen],
        view,
    )
    wire_train(page, view, use_model, use_data)


def wire_train(page: Page, view: list, use_model, use_data) -> None:
    s, tr = page.shared, page.train
    widgets = page.form()
    keys, inputs = list(widgets), list(widgets.values())

    def values_of(vals) -> dict[str, Any]:
        return dict(zip(keys, vals, strict=True))

    def do_preview(d, *vals):
        return train_tab.preview({**values_of(vals), "frozen": d.freeze}, d.groups)

    prev_out = [tr.yaml_box, tr.cli_box, tr.config_dl]
    on(tr.config_refresh.click, do_preview, [s.draft, *inputs], prev_out)

    # a config file fills the form; the model and data named in it are then loaded
    def upload(d, path):
        cfg, err = train_tab.config_upload(path)
        if cfg is None:
            return [gr.skip(), *[gr.skip()] * len(inputs), events.say(err) if err else ""]
        values = form.to_values(cfg)
        pending = replace(d, pending_freeze=cfg.freeze, num_labels=cfg.num_labels)
        note = message("Form filled from the config file.", "ok")
        return [pending, *[values[k] for k in keys], note]

    up = on(
        tr.config_up.upload,
        upload,
        [s.draft, tr.config_up],
        [s.draft, *inputs, tr.msg],
        msg=tr.msg,
        show_progress="hidden",
    )
    _then_load(page, up, view, use_model, use_data)

    # train / stop / poll
    def do_train(owner, d, token, procs, acc_cfg, *vals):
        owner, new, note = events.train(owner, d, values_of(vals), token, procs, acc_cfg)
        started = new.job_id != d.job_id
        timer = gr.Timer(active=True) if started else gr.skip()
        return [owner, owner, new, note, timer, -1, summary_html(new), gr.update(visible=False)]

    on(
        tr.train.click,
        do_train,
        [s.owner, s.draft, s.token, tr.processes, tr.accelerate_config, *inputs],
        [
            s.owner,
            s.browser_owner,
            s.draft,
            tr.msg,
            page.timer,
            page.seen,
            page.summary,
            tr.open_results,
        ],
        msg=tr.msg,
        concurrency_limit=None,
        show_progress="hidden",
    ).then(do_preview, [s.draft, *inputs], prev_out)
    on(
        tr.stop.click,
        lambda owner, d: train_tab.stop(owner, d.job_id),
        [s.owner, s.draft],
        [tr.msg],
        msg=tr.msg,
        concurrency_limit=None,
        show_progress="hidden",
    )
    tr.open_results.click(lambda: gr.Tabs(selected="results"), None, [page.tabs])
    wire_poll(page)
    wire_load(page, view, use_model, use_data)


def _then_load(page: Page, dep, view, use_model, use_data):
    """After the form was filled: load the model and the dataset it names."""
    s, m, dt = page.shared, page.model, page.data
    max_len = page.train.fields["max_length"]
    return dep.then(
        use_model,
        [s.draft, m.model_id, max_len, s.token],
        [*view, max_len, m.msg],
        show_progress="minimal",
    ).then(
        use_data,
        [s.draft, dt.dataset, dt.config, s.token],
        [*view, *dt.card_outputs(), dt.msg],
        show_progress="minimal",
    )


def wire_poll(page: Page) -> None:
    s, tr = page.shared, page.train
    results_out = page.results.outputs
    live = [tr.loss_plot, tr.metric_plot, tr.lr_plot, tr.progress, tr.log_box, page.seen]
    extra = [page.timer, s.draft, page.summary, tr.msg, tr.open_results]

    def stopped(note: str = "") -> list:
        out = [gr.skip()] * (len(live) + len(extra) + len(results_out))
        out[len(live)] = gr.Timer(active=False)
        if note:
            out[len(live) + 3] = message(note)
        return out

    def tick(owner, d, log_scale, seen_n):
        try:
            p = train_tab.poll(owner, d.job_id, log_scale, seen_n)
            return follow(owner, d, p) if p else stopped()
        except FinetuneError as exc:  # e.g. the run folder was removed: stop following it
            return stopped(str(exc))

    def follow(owner, d, p):
        figs = p.get("figures")
        plots = [figs["loss"], figs["metrics"], figs["lr"]] if figs else [gr.skip()] * 3
        done = not p["active"]
        st = p["status"].get("state") or ""
        eval_ = runs.read_run(p["run_dir"], metrics=False).eval if done else None
        line = events.run_line(p, eval_)
        changed = line != d.run_line
        new = replace(d, run_line=line)
        res = list(results_tab.show(owner, d.job_id)) if done else [gr.skip()] * len(results_out)
        return [
            *plots,
            progress_html(p["progress"], p["queue"], p["status"]),
            p["log"],
            p["records"],
            # only a change goes out: a component update makes Gradio rebuild its config
            # (schemas included), a measurable cost with many tabs polling (bench/load.py)
            gr.Timer(active=False) if done else gr.skip(),
            new if changed else gr.skip(),
            summary_html(new) if changed else gr.skip(),
            events.finished_banner(new, st) if done else gr.skip(),
            gr.update(visible=st == "completed") if done else gr.skip(),
            *res,
        ]

    on(
        page.timer.tick,
        tick,
        [s.owner, s.draft, tr.log_scale, page.seen],
        [*live, *extra, *results_out],
        concurrency_limit=None,
        show_progress="hidden",
    )
    tr.log_scale.change(lambda: -1, None, [page.seen])


def wire_load(page: Page, view, use_model, use_data) -> None:
    """Page load: the owner from the browser; re-attach to this browser's latest job and
    restore the form from its config.json; then the model and dataset cards."""
    s, tr = page.shared, page.train
    widgets = page.form()

    def on_load(stored_owner):
        owner, d, cfg, note = events.reattach(stored_owner)
        values = form.to_values(cfg) if cfg else {}
        fill = [values[k] if cfg else gr.skip() for k in widgets]
        timer = gr.Timer(active=d.job_id is not None)
        running = d.job_id is not None and "Re-attached" in note
        tabs = gr.Tabs(selected="train") if running else gr.skip()  # back to the charts
        return [owner, owner, d, timer, note, -1, tabs, *fill]

    dep = on(
        page.demo.load,
        on_load,
        [s.browser_owner],
        [
            s.owner,
            s.browser_owner,
            s.draft,
            page.timer,
            tr.msg,
            page.seen,
            page.tabs,
            *widgets.values(),
        ],
        msg=tr.msg,
        show_progress="hidden",  # gradio's timer text must not land in the message area
    )
    dep.then(
        runs_tab.listing, [s.owner], [page.runs.listing, page.runs.chosen, page.runs.notes_run]
    )
    _then_load(page, dep, view, use_model, use_data)
