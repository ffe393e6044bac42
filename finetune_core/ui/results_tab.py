"""Step 5, results: final metrics, confusion matrix, per-class table, the most confidently
wrong examples, a playground, and export (zip download, push to the Hub)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import charts, export, predict, runs
from finetune_core.errors import FinetuneError
from finetune_core.jobs.manager import MANAGER
from finetune_core.train import trackers
from finetune_core.ui.common import OK, message


def run_dir_of(owner: str | None, job_id: str | None) -> Path | None:
    job = MANAGER.get(job_id, owner or "") if job_id else None
    return Path(job.run_dir) if job else None


def summary(run_dir: Path | None) -> dict[str, Any]:
    """What the results section shows for a run (plain values; tests read this)."""
    if run_dir is None:
        return {"text": "No run yet: train a model in step 4."}
    view = runs.read_run(run_dir, metrics=False)
    ev = view.eval
    state = view.state
    if not ev:
        why = f" ({view.status.get('error')})" if view.status.get("error") else ""
        return {
            "text": f"Run **{run_dir.name}** is {state}{why}; results appear when it completes.",
            "state": state,
        }
    names = ev["label_names"]
    per_class = [
        [n, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
        for n, c in ev["per_class"].items()
    ]
    mistakes = [
        [
            str(m.get("input") if m.get("input") is not None else f"#{m['index']}")[:300],
            m["true"],
            m["predicted"],
            f"{m['confidence']:.1%}",
        ]
        for m in ev.get("most_confident_mistakes", [])
    ]
    text = (
        f"### Run {run_dir.name}: {state}\n"
        f"**Accuracy {ev['accuracy']:.2%}** · **macro F1 {ev['f1_macro']:.3f}** · "
        f"{ev['num_examples']} evaluation examples ({view.status.get('eval_source', 'eval split')})"
    )
    if board := trackers.tensorboard_command(run_dir):
        text += f"\n\nTensorBoard logs: `{board}`"
    return {
        "text": text,
        "state": state,
        "confusion": ev["confusion_matrix"],
        "labels": names,
        "per_class": per_class,
        "mistakes": mistakes,
    }


def show(owner, job_id):
    s = summary(run_dir_of(owner, job_id))
    fig = charts.confusion_figure(s["confusion"], s["labels"]) if "confusion" in s else None
    return s["text"], fig, s.get("per_class", []), s.get("mistakes", [])


def try_model(owner, job_id, text: str, image) -> tuple[Any, str]:
    run_dir = run_dir_of(owner, job_id)
    if run_dir is None:
        return None, message("Train a model first.")
    try:
        probs = predict.predict(run_dir, image if image is not None else text)
    except FinetuneError as exc:
        return None, message(str(exc))
    return probs, ""


def download(owner, job_id):
    run_dir = run_dir_of(owner, job_id)
    if run_dir is None:
        return gr.update(value=None), message("Train a model first.")
    try:
        return str(export.zip_model(run_dir)), message("The zip is ready: click to save it.", OK)
    except FinetuneError as exc:
        return gr.update(value=None), message(str(exc))


def onnx(owner, job_id, quantize: bool, token: str | None = None, oauth_token=None):
    """Export the run's model to ONNX (export.export_onnx, as `finetune export` does): the zip
    of the exported folder and the parity figures."""
    run_dir = run_dir_of(owner, job_id)
    if run_dir is None:
        return gr.update(value=None), message("Train a model first.")
    user_token = token or (getattr(oauth_token, "token", None) if oauth_token else None)
    quantize_to = "int8" if quantize else None
    try:
        result = export.export_onnx(run_dir, quantize=quantize_to, token=user_token)
        archive = export.zip_onnx(run_dir)
    except FinetuneError as exc:
        return gr.update(value=None), message(str(exc))
    figures = html.escape("\n".join(result.table()))
    note = message(result.summary(f"{run_dir.name}/onnx"), OK)
    return str(archive), f"{note}<pre>{figures}</pre>"


def push(owner, job_id, repo_id: str, private: bool, token: str | None, oauth_token=None):
    run_dir = run_dir_of(owner, job_id)
    if run_dir is None:
        return message("Train a model first.")
    user_token = token or (getattr(oauth_token, "token", None) if oauth_token else None)
    try:
        url = export.push_to_hub(run_dir, repo_id, user_token, private=bool(private))
    except FinetuneError as exc:
        return message(str(exc))
    return message(f"Pushed to {url}", OK)


def render(shared) -> None:
    refresh = gr.Button("Show results of my latest run", size="sm", elem_id="results-refresh")
    text = gr.Markdown(elem_id="results-summary")
    with gr.Row():
        confusion = gr.Plot(label="Confusion matrix", elem_id="confusion-plot")
        per_class = gr.Dataframe(
            headers=["class", "precision", "recall", "F1", "support"],
            value=[],
            interactive=False,
            label="Per class",
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
    try_msg = gr.HTML()
    gr.Markdown("#### Export")
    with gr.Row():
        zip_btn = gr.Button("Prepare model zip", elem_id="zip-btn")
        zip_file = gr.DownloadButton("Download model (.zip)", value=None, elem_id="zip-download")
    with gr.Row():
        repo = gr.Textbox(label="Hub repo (owner/name)", scale=3)
        private = gr.Checkbox(label="Private", value=True, scale=1)
        push_btn = gr.Button("Push to the Hub", scale=1)
    with gr.Row():
        onnx_int8 = gr.Checkbox(label="Also int8 (smaller, for CPU)", value=True, scale=1)
        onnx_btn = gr.Button("Export ONNX", scale=1, elem_id="onnx-btn")
        onnx_file = gr.DownloadButton("Download ONNX (.zip)", value=None, elem_id="onnx-download")
    export_msg = gr.HTML()

    outs = [text, confusion, per_class, mistakes]
    refresh.click(show, [shared.owner, shared.job_id], outs)
    try_btn.click(try_model, [shared.owner, shared.job_id, text_in, image_in], [probs, try_msg])
    text_in.submit(try_model, [shared.owner, shared.job_id, text_in, image_in], [probs, try_msg])
    zip_btn.click(download, [shared.owner, shared.job_id], [zip_file, export_msg])
    push_inputs = [shared.owner, shared.job_id, repo, private, shared.token]
    if shared.extra.get("oauth"):
        push_inputs.append(shared.extra["oauth"])
    push_btn.click(push, push_inputs, [export_msg])
    onnx_inputs = [shared.owner, shared.job_id, onnx_int8, shared.token]
    if shared.extra.get("oauth"):
        onnx_inputs.append(shared.extra["oauth"])
    onnx_btn.click(onnx, onnx_inputs, [onnx_file, export_msg])
    shared.extra.update(results_outputs=outs, results_show=show)
