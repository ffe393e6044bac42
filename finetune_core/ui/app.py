"""The dashboard page: layout first (one module per step), then the wiring between steps.

python app.py            # or: make run, finetune ui
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import hub
from finetune_core.ui import (
    api,
    data_tab,
    freeze_tab,
    hosting,
    model_tab,
    results_tab,
    runs_tab,
    train_tab,
)
from finetune_core.ui.common import OK, Shared, browser_secret, ensure_owner, message, on_spaces
from finetune_core.ui.train_tab import progress_html

# Gradio recomputes its event analytics (a pandas summary of up to 10,000 past events) after
# every event by default; with tabs polling every second that becomes a large share of the
# server's work (bench/load.py). Every 1000 events is plenty. Read when the queue is made.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
CSS = (Path(__file__).with_name("style.css")).read_text()
FORM_KEYS = [
    "model",
    "dataset",
    "dataset_config",
    "text_column",
    "image_column",
    "label_column",
    "num_labels",
    "epochs",
    "learning_rate",
    "batch_size",
    "max_length",
    "weight_decay",
    "warmup_ratio",
    "seed",
    "device",
    "max_train_samples",
    "max_eval_samples",
    "eval_split",
    "validation_fraction",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "feature_cache",
    "torch_compile",
    "push_checkpoints_to",
]


def _warm_imports() -> None:
    """Import transformers and datasets once, before any event runs. The first page load runs
    the model card and the dataset card in two threads at once; datasets' hashing reads
    `transformers.PreTrainedTokenizerBase` whenever "transformers" is in sys.modules, and
    while the other thread is still importing it that raised AttributeError (cold start only)."""
    import datasets  # noqa: F401
    import transformers

    _ = transformers.PreTrainedTokenizerBase


def build() -> gr.Blocks:
    host_notes = hosting.notices()  # first: on a Space this picks the runs folder
    _warm_imports()
    with gr.Blocks(title="Fine-tune dashboard") as demo:
        shared = Shared(
            owner=gr.State(None),
            browser_owner=gr.BrowserState(
                None, storage_key="finetune-owner", secret=browser_secret()
            ),
            job_id=gr.State(None),
            token=gr.State(None),
            groups=gr.State(None),
        )
        seen = gr.State(-1)
        gr.Markdown(
            "# Fine-tune dashboard\nPick a pretrained model and a dataset, choose what "
            "to freeze, train, and watch it learn.",
            elem_id="title",
        )
        with gr.Accordion("Hugging Face account (for gated models and pushing)", open=False):
            if oauth_ready():
                shared.extra["oauth"] = gr.LoginButton()
            elif on_spaces():
                gr.Markdown(
                    "Sign-in is off: set `hf_oauth: true` in the Space's README metadata "
                    "to enable it, or paste a token below."
                )
            token_box = gr.Textbox(
                label="Access token (kept in memory only, never saved)",
                type="password",
                elem_id="hf-token",
            )
        gr.HTML(
            "".join(message(n, "warn") for n in host_notes),
            elem_id="host-notice",
            visible=bool(host_notes),
        )
        hub_note = gr.HTML(elem_id="hub-notice")
        with gr.Tabs():
            with gr.Tab("1 · Model", id="model"):
                model_tab.render(shared)
            with gr.Tab("2 · Data", id="data"):
                data_tab.render(shared)
            with gr.Tab("3 · Head & freezing", id="freeze"):
                freeze_tab.render(shared)
            with gr.Tab("4 · Train", id="train"):
                train_tab.render(shared)
            with gr.Tab("5 · Results", id="results"):
                results_tab.render(shared)
            with gr.Tab("6 · Runs", id="runs"):
                runs_tab.render(shared)
        timer = gr.Timer(1.0, active=False)
        _wire(demo, shared, token_box, timer, seen, hub_note)
        api.register()
    return demo


def _wire(demo, shared: Shared, token_box, timer, seen, hub_note) -> None:
    x, f = shared.extra, shared.fields
    token_box.change(lambda t: t or None, [token_box], [shared.token], show_progress="hidden")

    # model -> card + layer groups; dataset -> card + column pickers + class count
    card_in = [f["model"], f["num_labels"], f["batch_size"], shared.token]
    for trigger in (x["model_load"].click, f["model"].submit, f["num_labels"].change):
        trigger(model_tab.card, card_in, [x["model_info"], shared.groups, x["model_msg"]])

    def load_dataset(source, config, token):
        return data_tab.card_outputs(data_tab.card(source, config, token))

    data_out = [*x["dataset_outputs"], f["num_labels"], x["data_msg"]]
    for trigger in (x["dataset_load"].click, f["dataset"].submit):
        trigger(load_dataset, [f["dataset"], f["dataset_config"], shared.token], data_out)

    # the form <-> YAML / CLI / file
    form = [f[k] for k in FORM_KEYS] + [x["frozen"]]
    keys = [*FORM_KEYS, "frozen"]

    def values_of(*vals):
        return dict(zip(keys, vals, strict=True))

    def do_preview(groups, *vals):
        return train_tab.preview(values_of(*vals), groups)

    prev_out = [x["yaml_box"], x["cli_box"], x["config_dl"]]
    x["config_refresh"].click(do_preview, [shared.groups, *form], prev_out)
    x["config_up"].upload(
        lambda p: train_tab.config_upload(p, keys), [x["config_up"]], [*form, x["train_msg"]]
    )

    # train / stop / poll
    def do_train(owner, groups, token, procs, acc_cfg, *vals):
        owner, job_id, note = train_tab.start(
            owner, values_of(*vals), groups, token, procs, acc_cfg
        )
        return owner, owner, job_id, note, gr.Timer(active=job_id is not None), -1

    x["train_btn"].click(
        do_train,
        [shared.owner, shared.groups, shared.token, x["processes"], x["accelerate_config"], *form],
        [shared.owner, shared.browser_owner, shared.job_id, x["train_msg"], timer, seen],
        concurrency_limit=None,
    ).then(do_preview, [shared.groups, *form], prev_out)
    x["stop_btn"].click(
        train_tab.stop, [shared.owner, shared.job_id], [x["train_msg"]], concurrency_limit=None
    )

    results_out = x["results_outputs"]
    live = [
        x["loss_plot"],
        x["metric_plot"],
        x["lr_plot"],
        x["progress"],
        x["log_box"],
        seen,
        timer,
    ]

    def tick(owner, job_id, log_scale, seen_n):
        p = train_tab.poll(owner, job_id, log_scale, seen_n)
        if not p:
            return [gr.skip()] * 6 + [gr.Timer(active=False)] + [gr.skip()] * len(results_out)
        figs = p.get("figures")
        plots = [figs["loss"], figs["metrics"], figs["lr"]] if figs else [gr.skip()] * 3
        done = not p["active"]
        res = list(results_tab.show(owner, job_id)) if done else [gr.skip()] * len(results_out)
        return [
            *plots,
            progress_html(p["progress"], p["queue"], p["status"]),
            p["log"],
            p["records"],
            # only a change goes out: a component update makes Gradio rebuild its config
            # (schemas included), a measurable cost with many tabs polling (bench/load.py)
            gr.Timer(active=False) if done else gr.skip(),
            *res,
        ]

    timer.tick(
        tick,
        [shared.owner, shared.job_id, x["log_scale"], seen],
        [*live, *results_out],
        concurrency_limit=None,
        show_progress="hidden",
    )
    x["log_scale"].change(lambda: -1, None, [seen])

    # page load: owner from the browser, re-attach to a running job, first cards
    def on_load(stored_owner, token):
        from finetune_core.jobs.manager import MANAGER

        owner = ensure_owner(stored_owner)
        jobs = sorted(MANAGER.jobs_of(owner), key=lambda j: j.created)
        active = [j for j in jobs if j.state != "finished"]
        job = (active or jobs or [None])[-1]
        note = ""
        if job is not None and job.state != "finished":
            note = message(f"Re-attached to your run {Path(job.run_dir).name}.", OK)
        return owner, owner, job.id if job else None, gr.Timer(active=job is not None), note, -1

    demo.load(
        on_load,
        [shared.browser_owner, shared.token],
        [shared.owner, shared.browser_owner, shared.job_id, timer, x["train_msg"], seen],
    )
    demo.load(model_tab.card, card_in, [x["model_info"], shared.groups, x["model_msg"]])
    demo.load(load_dataset, [f["dataset"], f["dataset_config"], shared.token], data_out)
    demo.load(_hub_notice, None, [hub_note])
    if "oauth" in x:
        demo.load(_oauth_token, None, [shared.token])
    demo.load(*x["runs_refresh"])


def oauth_ready() -> bool:
    """A Space with `hf_oauth: true` gets these variables; without them gradio's login routes
    refuse to start, so the button is only added when they are there."""
    return on_spaces() and all(
        os.environ.get(v)
        for v in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")
    )


def _hub_notice() -> str:
    reason = hub.offline_reason()
    if reason:
        return message(
            f"The Hub is unreachable ({reason}); local and bundled models are offered.", "warn"
        )
    return ""


def _oauth_token(oauth: gr.OAuthToken | None = None) -> Any:
    return oauth.token if oauth else None


def serve_local(demo: gr.Blocks | None = None) -> tuple[gr.Blocks, str]:
    """The dashboard on a free loopback port of this process, served as `launch` serves it,
    without blocking (tests, benchmarks, screenshots); returns (demo, url)."""
    from finetune_core.jobs.launcher import free_port

    demo = demo or build()
    port = free_port()
    launch(host="127.0.0.1", port=port, demo=demo, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def launch(
    host: str | None = None, port: int | None = None, share: bool = False, demo=None, **kw
) -> None:
    """Start the server (blocking); builds the page unless given one."""
    demo = demo or build()
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=host
        or os.environ.get("GRADIO_SERVER_NAME")
        or ("0.0.0.0" if on_spaces() else "127.0.0.1"),
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        share=share,
        inbrowser=os.environ.get("FINETUNE_OPEN_BROWSER") == "1",
        css=CSS,
        theme=gr.themes.Soft(),
        max_file_size=f"{int(float(os.environ.get('FINETUNE_MAX_UPLOAD_MB', 200)))}mb",
        **kw,
    )
