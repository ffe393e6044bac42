"""Step 5, results: final metrics, confusion matrix, per-class table, the most confidently
wrong examples, a playground, and export (zip download, push to the Hub). Predict and Export
ONNX are queued jobs (ui/queued.py): a timer fills their outputs when they are done."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import charts, export, runs
from finetune_core.errors import FinetuneError
from finetune_core.host import retention
from finetune_core.jobs.manager import MANAGER
from finetune_core.train import trackers
from finetune_core.ui import queued, uploads
from finetune_core.ui.common import OK, message, on


def run_dir_of(owner: str | None, job_id: str | None) -> Path | None:
    job = MANAGER.get(job_id, owner or "") if job_id else None
    return Path(job.run_dir) if job else None


PER_CLASS = ["class", "precision", "recall", "F1", "support"]
COUNTS = ("tp", "fp", "fn", "tn")  # a multi-label run's per-class counts (eval.json)
COUNT_NAMES = {"tp": "true +", "fp": "false +", "fn": "false −", "tn": "true −"}


def summary(run_dir: Path | None) -> dict[str, Any]:
    """What the results section shows for a run (plain values; tests read this)."""
    if run_dir is None:
        return {"text": "No run yet: train a model in step 4."}
    if not run_dir.is_dir():
        return {"text": f"Run {run_dir.name} was deleted (step 6 · Runs)."}
    view = runs.read_run(run_dir, metrics=False)
    ev = view.eval
    state = view.state
    if not ev:
        why = f" ({view.status.error})" if view.status.error else ""
        if view.status.active:
            then = "results appear when it ends"
        else:  # it ended before a final evaluation (a stop or a failure before training)
            then = "it has no evaluation; resume it on step 4 · Train to go on"
        return {"text": f"Run **{run_dir.name}** is {state}{why}; {then}.", "state": state}
    names = ev["label_names"]
    multi = "confusion_matrix" not in ev  # multi-label: per-class counts instead
    counts = COUNTS if multi else []
    per_class = [
        [n, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
        + [c.get(k, "") for k in counts]
        for n, c in _largest(ev["per_class"]).items()
    ]
    if len(ev["per_class"]) > len(per_class):
        more = len(ev["per_class"]) - len(per_class)
        per_class.append([f"… {more:,} more classes (eval.json has them all)"] + [""] * 4)
        per_class[-1] += [""] * len(counts)
    mistakes = grouped_mistakes(ev.get("most_confident_mistakes", []))
    micro = f" · micro F1 {ev['f1_micro']:.3f}" if "f1_micro" in ev else ""
    where = ev.get("report_split") or view.status.eval_source or "eval split"
    stopped = (
        f" at {view.status.reached()}: the model kept so far, evaluated"
        if state == "stopped"
        else ""
    )
    text = (
        f"### Run {run_dir.name}: {state}{stopped}\n"
        f"**Accuracy {ev['accuracy']:.2%}** · **macro F1 {ev['f1_macro']:.3f}**{micro} · "
        f"{ev['num_examples']} evaluation examples ({html.escape(str(where))})"
    )
    text += baseline_line(ev)
    if multi:
        text += "\n\nMulti-label: accuracy counts examples whose every label is right."
    if board := trackers.tensorboard_command(run_dir):
        text += f"\n\nTensorBoard logs: `{board}`"
    out = {
        "text": text,
        "state": state,
        "labels": ev.get("confusion_labels") or names,  # the matrix's own, when it is folded
        "per_class": per_class,
        "per_class_headers": PER_CLASS + [COUNT_NAMES[k] for k in counts],
        "mistakes": mistakes,
    }
    if not multi:
        out["confusion"], out["classes"] = ev["confusion_matrix"], len(names)
    return out


def baseline_line(ev: dict[str, Any]) -> str:
    """The quick baseline beside the model, and which split selected and which reported."""
    lines = []
    base = ev.get("baseline") or {}
    if "f1_macro" in base:
        micro = f" · micro F1 {base['f1_micro']:.3f}" if "f1_micro" in base else ""
        lines.append(
            f"Quick baseline ({html.escape(str(base['name']))}, {base['seconds']:.0f} s): "
            f"accuracy {base['accuracy']:.2%} · macro F1 {base['f1_macro']:.3f}{micro}"
        )
    if ev.get("selection_split") and ev.get("report_split"):
        lines.append(
            f"Model chosen on {html.escape(str(ev['selection_split']))}; scored on "
            f"{html.escape(str(ev['report_split']))}, which selection never saw."
        )
    return "".join(f"\n\n{line}" for line in lines)


TABLE_CLASSES = 50  # per-class rows shown: the classes with the most evaluation examples


def _largest(per_class: dict[str, dict]) -> dict[str, dict]:
    """At most TABLE_CLASSES classes, the most frequent, in their eval.json order."""
    if len(per_class) <= TABLE_CLASSES:
        return per_class
    top = set(sorted(per_class, key=lambda n: -per_class[n]["support"])[:TABLE_CLASSES])
    return {n: c for n, c in per_class.items() if n in top}


def grouped_mistakes(items: list[dict]) -> list[list[Any]]:
    """Mistakes as table rows; identical ones (same input, truth and guess) are one row
    with a count, at their highest confidence."""
    groups: dict[tuple, list] = {}
    for m in items:
        text = str(m.get("input") if m.get("input") is not None else f"#{m['index']}")[:300]
        key = (text, str(m["true"]), str(m["predicted"]))
        seen = groups.setdefault(key, [m["confidence"], 0])
        seen[0], seen[1] = max(seen[0], m["confidence"]), seen[1] + 1
    return [
        [text if n == 1 else f"{text} (×{n})", true, guess, f"{conf:.1%}"]
        for (text, true, guess), (conf, n) in groups.items()
    ]


def show(owner, job_id):
    s = summary(run_dir_of(owner, job_id))
    fig = None
    if "confusion" in s:
        fig = charts.confusion_figure(s["confusion"], s["labels"], classes=s["classes"])
    table = gr.update(value=s.get("per_class", []), headers=s.get("per_class_headers", PER_CLASS))
    return s["text"], fig, table, s.get("mistakes", [])


def try_model(owner, job_id, text: str, image) -> tuple[str | None, str]:
    """Queue the playground's prediction; (action id to poll, or None, and the notice)."""
    return queued.submit_predict(owner, run_dir_of(owner, job_id), text, image)


def predict_upload(
    owner: str | None, run_dir: Path | None, file_path: str | None, as_csv: bool
) -> tuple[str | None, str]:
    """Queue the Results step's batch prediction of an uploaded file through one of the
    owner's runs; (action id or None, the notice). The upload is checked and copied as a
    dataset upload is (type, size, zip safety, the hosted path policy); the action removes its
    copy when done."""
    if run_dir is None:
        return None, message("Train a model first.")
    if not file_path:
        return None, message("Upload a file to predict (CSV, TSV, JSON, JSONL, Parquet or a zip).")
    try:
        saved = uploads.save_data_upload(file_path)
    except FinetuneError as exc:
        return None, message(str(exc))
    name = f"{Path(file_path).stem}-predictions.{'csv' if as_csv else 'jsonl'}"
    return queued.submit_predict_file(owner, run_dir, str(saved), name)


def download(owner, job_id):
    run_dir = run_dir_of(owner, job_id)
    if run_dir is None:
        return gr.update(value=None), message("Train a model first.")
    try:
        retention.sweep()  # expired downloads and uploads go (at most once a minute)
        path = export.zip_model(run_dir)  # made once per saved model, then reused
        return str(path), message(f"Downloading {path.name}.", OK)
    except FinetuneError as exc:
        return gr.update(value=None), message(str(exc))


def onnx(owner, job_id, quantize: bool, token: str | None = None, oauth_token=None):
    """Queue an ONNX export of the run's model (export.export_onnx, as `finetune export`
    does); (action id to poll, or None, and the notice)."""
    user_token = token or (getattr(oauth_token, "token", None) if oauth_token else None)
    return queued.submit_onnx(owner, run_dir_of(owner, job_id), quantize, user_token)


def push(owner, job_id, repo_id: str, private: bool, token: str | None, oauth_token=None):
    run_dir = run_dir_of(owner, job_id)
    if run_dir is None:
        return message("Train a model first.")
    user_token = token or (getattr(oauth_token, "token", None) if oauth_token else None)
    if not user_token:
        return message(
            "Pushing needs your Hugging Face token: open “Hugging Face account” at the top "
            "of the page and log in, or paste a token with write access."
        )
    try:
        url = export.push_to_hub(run_dir, repo_id, user_token, private=bool(private))
    except FinetuneError as exc:
        return message(str(exc))
    return message(f"Pushed to {url}", OK)


# one click: after the zip is made, the browser saves the file the event returned
SAVE_JS = """(f) => {
  if (!f || !f.url) return;
  const a = document.createElement('a');
  a.href = f.url; a.download = f.orig_name || 'model.zip';
  document.body.appendChild(a); a.click(); a.remove();
}"""


@dataclass
class ResultsStep:
    refresh: Any
    outputs: list[Any]  # what `show` fills: summary, confusion matrix, per class, mistakes


def render(shared) -> ResultsStep:
    with gr.Row():
        label = "Run (empty: the one the Train step follows)"
        pick = gr.Dropdown([], value=None, label=label, scale=3, elem_id="results-run")
        refresh = gr.Button("Show results", size="sm", scale=1, elem_id="results-refresh")
    text = gr.Markdown(elem_id="results-summary")
    with gr.Row():
        confusion = gr.Plot(label="Confusion matrix", elem_id="confusion-plot")
        per_class = gr.Dataframe(
            headers=PER_CLASS,
            value=[],
            interactive=False,
            label="Per class",
            elem_id="per-class",
        )
    mistakes = gr.Dataframe(
        headers=["input", "true", "predicted", "confidence"],
        value=[],
        interactive=False,
        wrap=True,
        max_height=260,
        column_widths=["60%", "13%", "13%", "14%"],
        label="Most confidently wrong evaluation examples",
    )
    gr.Markdown("#### Try it")
    with gr.Row():
        text_in = gr.Textbox(label="Text", lines=3, elem_id="try-text")
        image_in = gr.Image(label="…or an image", type="pil", height=160)
        probs = gr.Label(num_top_classes=5, label="Class probabilities", elem_id="try-probs")
    try_btn = gr.Button("Predict", elem_id="try-btn")
    try_msg = gr.HTML(elem_id="try-msg")
    gr.Markdown("#### Predict a file")
    with gr.Row():
        types = list(uploads.DATA_TYPES)
        batch_in = gr.File(
            label="CSV, TSV, JSON, JSONL, Parquet, or a zip of images",
            file_types=types,
            elem_id="predict-input",
        )
        batch_out = gr.File(label="Predictions", interactive=False, elem_id="predict-output")
    with gr.Row():
        batch_csv = gr.Checkbox(label="CSV (else JSON Lines)", value=False, scale=1)
        batch_btn = gr.Button("Predict the file", scale=2, elem_id="predict-btn")
    batch_msg = gr.HTML(elem_id="predict-msg")
    gr.Markdown("#### Export")
    with gr.Row():
        zip_btn = gr.Button("Download model (.zip)", elem_id="zip-btn")
        # the zip lands here and the browser saves it at once (SAVE_JS); the link stays
        zip_file = gr.File(label="Model zip", visible=False, interactive=False, elem_id="zip-file")
    with gr.Row():
        repo = gr.Textbox(label="Hub repo (owner/name)", scale=3)
        private = gr.Checkbox(label="Private", value=True, scale=1)
        push_btn = gr.Button("Push to the Hub", scale=1)
    with gr.Row():
        onnx_int8 = gr.Checkbox(label="Also int8 (smaller, for CPU)", value=True, scale=1)
        onnx_btn = gr.Button("Export ONNX", scale=1, elem_id="onnx-btn")
        # shown once there is something to download (before Export ONNX it did nothing)
        onnx_file = gr.DownloadButton(
            "Download ONNX (.zip)", value=None, visible=False, elem_id="onnx-download"
        )
    export_msg = gr.HTML(elem_id="export-msg")
    pending = gr.State({})  # kind -> id of the queued action this page waits for
    timer = gr.Timer(0.5, active=False)  # polls the pending actions, only while there are some

    outs = [text, confusion, per_class, mistakes]
    job = [shared.owner, shared.draft, pick]
    on(refresh.click, _show, job, [*outs, pick], msg=text)
    on(pick.input, _show, job, [*outs, pick], msg=text)
    for trigger in (try_btn.click, text_in.submit):
        on(
            trigger,
            _try,
            [*job, text_in, image_in, pending],
            [probs, try_msg, pending, timer],
            msg=try_msg,
            concurrency_limit=None,
        )
    on(
        batch_btn.click,
        _predict_file,
        [*job, batch_in, batch_csv, pending],
        [batch_out, batch_msg, pending, timer],
        msg=batch_msg,
    )
    on(zip_btn.click, _download, job, [zip_file, export_msg], msg=export_msg).then(
        None, [zip_file], None, js=SAVE_JS
    )
    push_inputs = [*job, repo, private, shared.token]
    onnx_inputs = [*job, onnx_int8, shared.token]
    if shared.oauth is not None:
        push_inputs.append(shared.oauth)
        onnx_inputs.append(shared.oauth)
    on(push_btn.click, _push, push_inputs, [export_msg], msg=export_msg)
    on(
        onnx_btn.click,
        _onnx,
        [*onnx_inputs, pending],
        [onnx_file, export_msg, pending, timer],
        msg=export_msg,
        concurrency_limit=None,
    )
    on(
        timer.tick,
        _tick,
        [shared.owner, pending],
        [probs, try_msg, onnx_file, export_msg, batch_out, batch_msg, pending, timer],
        concurrency_limit=None,
        show_progress="hidden",
    )
    return ResultsStep(refresh, outs)


def _job(draft, pick) -> str | None:
    """The picked run, else the session's: the handlers above take a job id."""
    return pick or getattr(draft, "job_id", None)


def my_runs(owner: str | None) -> list[tuple[str, str]]:
    """(run folder name, job id) of this browser's runs, newest first."""
    jobs = sorted(MANAGER.jobs_of(owner or ""), key=lambda j: j.created, reverse=True)
    return [(Path(j.run_dir).name, j.id) for j in jobs]


def _show(owner, draft, pick):
    choices = my_runs(owner)
    value = pick if pick in {i for _, i in choices} else None
    return (*show(owner, _job(draft, value)), gr.update(choices=choices, value=value))


def _try(owner, draft, pick, text, image, pending):
    action_id, note = try_model(owner, _job(draft, pick), text, image)
    return gr.skip(), note, *_waiting(pending, queued.PREDICT, action_id)


def _waiting(pending: dict | None, kind: str, action_id: str | None) -> tuple[Any, Any]:
    """(pending, timer) after a click: the new action joins the ones the timer polls."""
    if action_id is None:
        return gr.skip(), gr.skip()
    return {**(pending or {}), kind: action_id}, gr.Timer(active=True)


def _tick(owner, pending):
    """(probabilities, try notice, ONNX zip, export notice, predictions file, its notice,
    pending, timer)."""
    left, shown = queued.poll(owner, pending)
    out = []
    for kind in (queued.PREDICT, queued.ONNX, queued.PREDICT_FILE):
        value, note, *done = shown.get(kind, (None, None))
        if note is None:  # nothing pending of this kind: leave its widgets alone
            out += [gr.skip(), gr.skip()]
        elif done and kind == queued.ONNX:  # the download button shows once there is a zip
            out += [gr.update(value=value, visible=value is not None), note]
        else:
            out += [value if done else gr.skip(), note]
    changed = left != (pending or {})
    # only a change goes out (a component update makes Gradio rebuild its config)
    return *out, left if changed else gr.skip(), gr.skip() if left else gr.Timer(active=False)


def _predict_file(owner, draft, pick, file_path, as_csv, pending):
    run_dir = run_dir_of(owner, _job(draft, pick))  # only this browser's runs
    action_id, note = predict_upload(owner, run_dir, file_path, as_csv)
    return gr.skip(), note, *_waiting(pending, queued.PREDICT_FILE, action_id)


def _download(owner, draft, pick):
    path, note = download(owner, _job(draft, pick))
    ready = isinstance(path, str)  # the button shows only with a zip behind it
    return gr.update(value=path if ready else None, visible=ready), note


def _push(owner, draft, pick, repo_id, private, token, oauth_token=None):
    return push(owner, _job(draft, pick), repo_id, private, token, oauth_token)


def _onnx(owner, draft, pick, quantize, token, *rest):
    oauth_token, pending = rest if len(rest) == 2 else (None, rest[0])
    action_id, note = onnx(owner, _job(draft, pick), quantize, token, oauth_token)
    return gr.skip(), note, *_waiting(pending, queued.ONNX, action_id)
