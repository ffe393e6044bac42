"""The dashboard page: layout first (one module per step), then the wiring between steps.

python app.py            # or: make run, finetune ui
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import hub
from finetune_core.jobs import restore
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui import (
    api,
    data_tab,
    form,
    freeze_tab,
    hosting,
    model_tab,
    results_tab,
    runs_tab,
    train_tab,
    uploads,
    wiring,
)
from finetune_core.ui.common import Shared, browser_secret, message, on_spaces
from finetune_core.ui.state import Draft

# Gradio recomputes its event analytics (a pandas summary of up to 10,000 past events) after
# every event by default; with tabs polling every second that becomes a large share of the
# server's work (bench/load.py). Every 1000 events is plenty. Read when the queue is made.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
CSS = (Path(__file__).with_name("style.css")).read_text()


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
    restore.rebuild(MANAGER)  # runs outlive the server: every run folder is a job again
    _warm_imports()
    with gr.Blocks(title="Fine-tune dashboard", delete_cache=_cache_cleanup()) as demo:
        shared = Shared(
            owner=gr.State(None),
            browser_owner=gr.BrowserState(
                None, storage_key="finetune-owner", secret=browser_secret()
            ),
            draft=gr.State(Draft(session="")),  # each page load gets its own (wiring_run)
            token=gr.State(None),
        )
        gr.Markdown(
            "# Fine-tune dashboard\nPick a pretrained model and a dataset, choose what "
            "to freeze, train, and watch it learn.",
            elem_id="title",
        )
        with gr.Accordion("Hugging Face account (for gated models and pushing)", open=False):
            if oauth_ready():
                shared.oauth = gr.LoginButton()
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
        summary = gr.HTML(wiring.summary_html(Draft()), elem_id="summary-bar")
        nexts = []
        with gr.Tabs() as tabs:
            with gr.Tab("1 · Model", id="model"):
                model = model_tab.render(shared)
                nexts.append(_next_button("data", "2 · Data"))
            with gr.Tab("2 · Data", id="data"):
                data = data_tab.render(shared)
                nexts.append(_next_button("freeze", "3 · Head & freezing"))
            with gr.Tab("3 · Head & freezing", id="freeze"):
                freeze = freeze_tab.render(shared)
                nexts.append(_next_button("train", "4 · Train"))
            with gr.Tab("4 · Train", id="train"):
                train = train_tab.render(shared)
            with gr.Tab("5 · Results", id="results"):
                results = results_tab.render(shared)
            with gr.Tab("6 · Runs", id="runs"):
                runs_step = runs_tab.render(shared)
        timer = gr.Timer(1.0, active=False)
        page = wiring.Page(
            demo,
            shared,
            summary,
            tabs,
            model,
            data,
            freeze,
            train,
            results,
            runs_step,
            timer,
            gr.State(-1),
            gr.State({}),
        )
        missing = set(form.form_keys()) - set(page.form())
        if missing:  # a config key no step renders would silently keep its default
            raise RuntimeError(f"the page has no widget for {sorted(missing)}")
        wiring.wire(page)
        for tab_id, button in nexts:
            button.click(_go_to(tab_id), None, [tabs], show_progress="hidden")
        token_box.change(lambda t: t or None, [token_box], [shared.token], show_progress="hidden")
        demo.load(_hub_notice, None, [hub_note])
        if shared.oauth is not None:
            demo.load(_oauth_token, None, [shared.token])
        api.register()
    api.keep_only_script_api(demo)
    return demo


def _cache_cleanup() -> tuple[int, int] | None:
    """Gradio keeps its own copy of every upload and download; they expire with the exports
    (FINETUNE_EXPORT_TTL_MINUTES), checked as often, at most hourly (0: kept)."""
    from finetune_core.host import env

    age = int(env.limits().export_ttl_minutes * 60)
    return (min(age, 3600), age) if age else None


def _next_button(tab_id: str, label: str) -> tuple[str, gr.Button]:
    return tab_id, gr.Button(f"Next: {label} →", size="sm", elem_id=f"next-{tab_id}")


def _go_to(tab_id: str):
    return lambda: gr.Tabs(selected=tab_id)


def oauth_ready() -> bool:
    """A Space with `hf_oauth: true` gets these variables; without them gradio's login routes
    refuse to start, so the button is only added when they are there. FINETUNE_LOCAL_LOGIN=1
    adds it outside a Space too, where gradio signs you in as the user of this machine's
    HF_TOKEN (to try a hosted setup's sign-in locally)."""
    if os.environ.get("FINETUNE_LOCAL_LOGIN") == "1" and not on_spaces():
        return True
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
        max_file_size=f"{int(uploads.max_upload_mb())}mb",  # a bad value: one sentence
        # gradio's run history keeps every event's inputs in the browser's localStorage,
        # the pasted Hub token included (seen in headless Chromium): off, and cleared
        run_history=False,
        **kw,
    )
