"""The page's handlers that follow a run: Train, Stop, Resume, Train more, the 1 s poll, and
the page load that finds this visitor's latest run (after a refresh, a second tab or a server
restart). Each returns its outputs by component; each branch tests the run's typed state
(runs.RunStatus), never the text it shows."""

from __future__ import annotations

from typing import Any

import gradio as gr

from finetune_core import runs
from finetune_core.errors import FinetuneError
from finetune_core.ui import events, form, results_tab, runs_tab, train_tab
from finetune_core.ui.common import on
from finetune_core.ui.state import Draft
from finetune_core.ui.train_tab import progress_html
from finetune_core.ui.wiring import Loads, Page, summary_html, then_load, then_preview

FOLLOW_TAB = ("queued", "running", "interrupted")  # a (re)load goes back to the Train step


def buttons(page: Page, d: Draft) -> dict[Any, Any]:
    """See the results / Resume / Train more, for the followed run's state."""
    tr, st = page.train, d.run_state
    return {
        tr.open_results: gr.update(visible=st == "completed" or d.run_accuracy is not None),
        tr.resume: gr.update(visible=st in runs.RESUMABLE),
        tr.more: gr.update(visible=st == "completed"),
    }


def following(page: Page, d: Draft) -> dict[Any, Any]:
    """A new run followed (Train, Resume, Train more): the poll starts over."""
    return {
        page.shared.draft: d,
        page.summary: summary_html(d),
        page.timer: gr.Timer(active=True),
        page.seen: -1,
        page.shown: {},
        **buttons(page, d),
    }


def wire(page: Page, loads: Loads) -> None:
    s, tr = page.shared, page.train
    widgets = page.form()
    keys, inputs = list(widgets), list(widgets.values())
    started = [s.draft, page.summary, page.timer, page.seen, page.shown]
    started += [tr.open_results, tr.resume, tr.more]

    def do_train(owner, d, token, procs, acc_cfg, *vals):
        values = dict(zip(keys, vals, strict=True))
        owner, new, note = events.train(owner, d, values, token, procs, acc_cfg)
        out = following(page, new) if new.job_id != d.job_id else {}
        return {**out, s.owner: owner, tr.msg: note}

    train = on(
        tr.train.click,
        do_train,
        [s.owner, s.draft, s.token, tr.processes, tr.accelerate_config, *inputs],
        [s.owner, tr.msg, *started],
        msg=tr.msg,
        concurrency_limit=None,
        show_progress="hidden",
    )
    then_preview(page, train)
    on(
        tr.stop.click,
        lambda owner, d: train_tab.stop(owner, d.job_id),
        [s.owner, s.draft],
        [tr.msg],
        msg=tr.msg,
        concurrency_limit=None,
        show_progress="hidden",
    )

    def do_resume(owner, d, token):
        new, note = events.resume(owner, d, token)
        return {**(following(page, new) if new.job_id != d.job_id else {}), tr.msg: note}

    def do_more(owner, d, token, epochs):
        new, note = events.train_more(owner, d, token, epochs)
        return {**(following(page, new) if new.job_id != d.job_id else {}), tr.msg: note}

    more_epochs = [tr.fields["epochs"]]  # Train more: the Epochs box says how many more
    for button, fn, extra in ((tr.resume, do_resume, []), (tr.more, do_more, more_epochs)):
        on(
            button.click,
            fn,
            [s.owner, s.draft, s.token, *extra],
            [tr.msg, *started],
            msg=tr.msg,
            concurrency_limit=None,
            show_progress="hidden",
        )
    tr.open_results.click(lambda: gr.Tabs(selected="results"), None, [page.tabs])
    wire_poll(page)
    wire_load(page, loads)


def wire_poll(page: Page) -> None:
    s, tr = page.shared, page.train
    results_out = page.results.outputs
    outputs = [tr.loss_plot, tr.metric_plot, tr.lr_plot, tr.progress, tr.log_box, tr.resolved]
    outputs += [page.seen, page.shown, page.timer, s.draft, page.summary, tr.msg]
    outputs += [tr.open_results, tr.resume, tr.more, *results_out]

    def tick(owner, d, log_scale, seen_n, shown):
        try:
            p = train_tab.poll(owner, d.job_id, log_scale, seen_n)
        except FinetuneError as exc:  # e.g. the run folder was removed: stop following it
            return {page.timer: gr.Timer(active=False), tr.msg: events.say(str(exc))}
        if not p:
            return {page.timer: gr.Timer(active=False)}
        return follow(owner, d, p, dict(shown or {}))

    def follow(owner, d, p, shown):
        status: runs.RunStatus = p["status"]
        done = not p["active"]
        # the run folder's other files: read once the run ends, or when its phase moves on
        view = None
        if done or shown.get("phase") != (status.phase, status.state):
            view = runs.read_run(p["run_dir"], metrics=False)
            shown["phase"] = (status.phase, status.state)
        new = events.follow(d, status, p["progress"].get("fraction"), view.eval if done else None)
        out: dict[Any, Any] = {page.seen: p["records"]}
        if figs := p.get("figures"):
            out.update({tr.loss_plot: figs["loss"], tr.metric_plot: figs["metrics"]})
            out[tr.lr_plot] = figs["lr"]
        texts = {tr.progress: progress_html(p["progress"], p["queue"], status)}
        texts[tr.log_box] = p["log"]
        if view is not None:
            texts[tr.resolved] = train_tab.resolved_markdown(view)
        for widget, text in texts.items():  # only a change goes out: no flicker, less work
            if shown.get(widget.elem_id) != text:
                out[widget], shown[widget.elem_id] = text, text
        out[page.shown] = shown
        if new != d:
            out.update({s.draft: new, page.summary: summary_html(new)})
        if done:
            out.update({page.timer: gr.Timer(active=False), **buttons(page, new)})
            out[tr.msg] = events.finished_banner(new, status)
            shown_results = results_tab.show(owner, new.job_id)
            out.update(dict(zip(results_out, shown_results, strict=True)))
        return out

    on(
        page.timer.tick,
        tick,
        [s.owner, s.draft, tr.log_scale, page.seen, page.shown],
        outputs,
        busy=lambda *args: {page.seen: gr.skip()},  # a load is changing the draft: next tick
        concurrency_limit=None,
        show_progress="hidden",
    )
    tr.log_scale.change(lambda: -1, None, [page.seen])


def wire_load(page: Page, loads: Loads) -> None:
    """Page load: who this is (signed in: their Hub username; else the key this browser keeps),
    their latest run, and the form as they asked for it (request.json); then the model and
    dataset cards, the runs list and the YAML."""
    s, tr = page.shared, page.train
    widgets = page.form()

    def on_load(stored_owner, profile=None):
        username = getattr(profile, "username", None)  # signed in with the Hub, else None
        owner, browser = events.identify(stored_owner, username)
        d, cfg, note = events.reattach(owner)
        out: dict[Any, Any] = {s.owner: owner, s.browser_owner: browser, tr.msg: note}
        out.update({s.draft: d, page.summary: summary_html(d), page.seen: -1, page.shown: {}})
        out[page.timer] = gr.Timer(active=d.job_id is not None)
        if d.run_state in FOLLOW_TAB:
            out[page.tabs] = gr.Tabs(selected="train")  # back to the charts, or to Resume
        if cfg is not None:
            values = form.to_values(cfg)
            out.update({widget: values[key] for key, widget in widgets.items()})
        return out

    inputs = [s.browser_owner]
    if s.oauth is not None:  # a Space with sign-in: the visitor's Hub profile, when signed in

        def on_load_signed_in(stored_owner, profile: gr.OAuthProfile | None = None):
            return on_load(stored_owner, profile)

        handler = on_load_signed_in
    else:
        handler = on_load
    outputs = [s.owner, s.browser_owner, s.draft, page.summary, page.timer, tr.msg]
    outputs += [page.seen, page.shown, page.tabs, *widgets.values()]
    dep = on(
        page.demo.load,
        handler,
        inputs,
        outputs,
        msg=tr.msg,
        show_progress="hidden",  # gradio's timer text must not land in the message area
    )
    listed = [page.runs.listing, page.runs.chosen, page.runs.notes_run]
    on(dep.then, runs_tab.listing, [s.owner], listed)
    then_load(page, dep, loads)
