"""Step 4, training: settings, the equivalent YAML/CLI, Train/Stop, and the live view.

Train validates and queues a background job (jobs.MANAGER) and returns at once; a 1 s
gr.Timer polls the run directory (only the new metrics lines) and redraws the charts only when
something changed, so many open tabs cost little while a job trains.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import charts, preflight, runs
from finetune_core.config import RunConfig
from finetune_core.config.fields import ADVANCED, TRAIN_STEP
from finetune_core.errors import FinetuneError
from finetune_core.host import retention
from finetune_core.jobs.manager import MANAGER
from finetune_core.runs import phases, records
from finetune_core.train import device
from finetune_core.ui import form, freeze_tab
from finetune_core.ui.common import (
    OK,
    WARN,
    Shared,
    check_local_path,
    ensure_owner,
    md_text,
    message,
)

# (run dir, log scale) -> (records drawn, last record, figures): each new metrics line is
# drawn once, not once per open tab (a figure set costs tens of ms of the interpreter's time)
FIGURES: dict[tuple[str, bool], tuple[int, dict | None, dict[str, Any]]] = {}
FIGURES_KEPT = 64


def shared_figures(key: str, records: list[dict], log_scale: bool) -> dict[str, Any]:
    """The live charts for these records, built once and shared by every poll that asks."""
    last = records[-1] if records else None
    cached = FIGURES.get((key, log_scale))
    if cached is None or cached[0] != len(records) or cached[1] != last:
        if len(FIGURES) >= FIGURES_KEPT:
            FIGURES.clear()
        cached = (len(records), last, charts.figures(records, log_scale=log_scale))
        FIGURES[(key, log_scale)] = cached
    return cached[2]


# ---- form <-> config -----------------------------------------------------------------
def form_config(values: dict[str, Any], groups: list[dict] | None) -> RunConfig:
    """The RunConfig for the form's values ({config key: widget value, "frozen": names});
    raises FinetuneError with one sentence."""
    data = form.to_data(values)
    data["freeze"] = freeze_tab.freeze_value(groups, values.get("frozen"))
    for key in ("model", "dataset"):
        refused = check_local_path(str(data.get(key) or ""))
        if refused:
            raise FinetuneError(refused)
    return RunConfig.from_dict(data)


def preview(values: dict[str, Any], groups: list[dict] | None) -> tuple[str, str, str | None]:
    """(YAML, command line, downloadable file) for the current form, or an explanation."""
    try:
        cfg = form_config(values, groups)
    except FinetuneError as exc:
        return f"# {exc}", "", None
    text = cfg.to_yaml()  # one file per distinct config (not one per preview), expiring
    folder = retention.exports_root() / "configs" / hashlib.sha256(text.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return (
        text,
        f"{cfg.cli_line('run.yaml')}\n# or, without the file:\n{cfg.cli_flags()}",
        str(path),
    )


def config_upload(file_path: str | None) -> tuple[RunConfig | None, str]:
    """An uploaded YAML/JSON config (unknown keys are refused), or None and why."""
    from finetune_core.ui.uploads import check_config_upload

    if not file_path:
        return None, ""
    try:
        return RunConfig.load(check_config_upload(file_path)), ""
    except FinetuneError as exc:
        return None, str(exc)


# ---- train / stop / poll ---------------------------------------------------------------
def start(
    owner: str | None,
    values: dict[str, Any],
    groups,
    token: str | None = None,
    processes: Any = 1,
    accelerate_config: str | None = None,
):
    """Validate and queue. Returns (owner, job id or None, notice). More than one process
    runs `accelerate launch` (DDP: one process per GPU, gloo on CPU)."""
    owner = ensure_owner(owner)
    try:
        cfg = form_config(values, groups)
        preflight.check(cfg, token or None, accelerate_config=accelerate_config or None)
        job = MANAGER.start(
            cfg,
            owner,
            token=token or None,
            processes=int(processes or 1),
            accelerate_config=accelerate_config or None,
        )
    except FinetuneError as exc:
        return owner, None, message(str(exc))
    pos = MANAGER.queue_position(job)
    wait = f" (waiting in the queue, position {pos})" if pos else ""
    return owner, job.id, message(f"Started {Path(job.run_dir).name}{wait}.", OK)


def stop(owner: str | None, job_id: str | None) -> str:
    job = MANAGER.get(job_id, owner or "") if job_id else None
    if job is None:
        return message("No running job of yours to stop.")
    if not MANAGER.stop(job.id, owner or ""):
        state = runs.read_status(job.run_dir).state
        name = Path(job.run_dir).name
        return message(f"Run {name} already ended ({state}); there is nothing to stop.", WARN)
    return message(
        "Stopping after the current step; the model so far will be saved and evaluated.", OK
    )


def resolved_markdown(view: runs.RunView | None) -> str:
    """What the followed run decided, read-only beside the form (which keeps what was asked):
    config.json's resolved values and the plan the run chose."""
    if view is None:
        return ""
    if not view.resolved:
        return f"*Run {view.path.name}: its resolved values appear once it has loaded its data.*"
    c = view.config
    search = view.status.learning_rate_search or {}
    how = " (picked by the learning-rate search)" if search.get("chosen") else ""
    lr = c.get("learning_rate")
    plan = c.get("freeze_plan") or {}
    labels = [md_text(n) for n in c.get("label_names") or []]  # the data's strings: inert
    shown = ", ".join(labels[:12]) + (f", … ({len(labels)} in all)" if len(labels) > 12 else "")
    columns = ", ".join(
        f"{k.removesuffix('_column')} '{md_text(c[k])}'"
        for k in ("text_column", "image_column", "label_column")
        if c.get(k)
    )
    trains = ", ".join(md_text(g) for g in plan.get("trainable") or []) or "?"
    lines = [
        f"**Resolved by run {md_text(view.path.name)}** (read-only; the form keeps what you asked)",
        f"- learning rate: **{lr:g}**{how}" if isinstance(lr, int | float) else "",
        f"- task: {md_text(c.get('task') or '?')} · columns: {columns}",
        f"- {c.get('num_labels') or len(labels)} classes: {shown}" if labels else "",
        f"- trains: {trains} ({md_text(plan.get('reason') or '')})" if plan else "",
    ]
    return "\n".join(line for line in lines if line)


def poll(owner: str | None, job_id: str | None, log_scale: bool, seen: int) -> dict[str, Any]:
    """What the live view shows for this session's job; {} when there is none."""
    job = MANAGER.get(job_id, owner or "") if job_id else None
    if job is None:
        return {}
    MANAGER.touch(owner)
    key = str(job.run_dir)
    records = runs.tail(job.run_dir)
    status = runs.read_status(job.run_dir)
    out: dict[str, Any] = {"status": status, "records": len(records), "run_dir": key}
    if len(records) != seen:
        out["figures"] = shared_figures(key, records, bool(log_scale))
    out["progress"] = {**charts.progress(status.to_dict(), records), **_last_step(records)}
    out["queue"] = MANAGER.queue_position(job)
    out["log"] = log_lines(records)
    out["active"] = job.state != "finished" or status.active
    return out


def _last_step(rows: list[dict]) -> dict[str, Any]:
    """The step and epoch of the same (latest) training record."""
    last = records.last_step(rows)
    return {"record_step": last[0], "record_epoch": last[1]} if last else {}


def log_lines(rows: list[dict], n: int = 12) -> str:
    lines = []
    for r in map(records.parse, rows[-n:]):
        if isinstance(r, records.End):
            lines.append(f"end: {r.state} {r.error or ''}".strip())
        elif isinstance(r, records.Trial):
            lines.append(f"learning rate {r.learning_rate:g}: eval loss {r.eval_loss:.4g}")
        elif isinstance(r, records.Log):
            parts = [f"step {r.step}", f"epoch {r.epoch:.2f}"]
            parts += [
                f"{k} {v:.4g}"
                for k, v in r.values.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            lines.append("  ".join(parts))
    return "\n".join(lines)


def progress_html(p: dict[str, Any], queue: int | None, status: runs.RunStatus) -> str:
    state = status.state
    if queue:
        return (
            f'<div class="ft-progress">Queued: position {queue}; '
            "it starts when the device is free</div>"
        )
    phase = status.phase
    if state == "running" and phase and phase != phases.TRAINING:
        return _phase_html(status)
    frac = p.get("fraction") or 0.0
    step, epoch = p.get("step") or 0, p.get("epoch") or 0.0
    at, at_epoch = p.get("record_step"), p.get("record_epoch")
    if at and at_epoch is not None and step:  # the epoch at the step shown, from the metrics
        epoch = at_epoch * step / at
    rate = p.get("steps_per_sec")
    bs = status.samples_per_step
    speed = f"{rate * bs:.1f} samples/s" if rate and bs else f"{rate:.2f} steps/s" if rate else "–"
    err = (
        f"<div class='ft-msg ft-error'>✗ {html.escape(status.error)}</div>" if status.error else ""
    )
    # training health ("the loss stays flat", ...): whatever the engine reports, with its advice
    err += "".join(message(str(w), WARN) for w in status.warnings)
    return (
        f'<div class="ft-progress"><div class="ft-bar"><div style="width:{frac:.1%}"></div></div>'
        f"<b>{html.escape(state)}</b> · step {step}/{p.get('max_steps') or '?'} · "
        f"epoch {epoch:.2f} · {speed} · "
        f"time left {charts.format_eta(p.get('eta_seconds'))}"
        f"</div>{err}"
    )


def _phase_html(status: runs.RunStatus) -> str:
    """Loading, caching, final evaluation: what runs before and after the training steps, with
    the time left of a counted pass (examples done since the phase began, over its time)."""
    phase, done, total = status.phase or "", status.phase_done, status.phase_total
    counting = isinstance(done, int) and isinstance(total, int) and total > 0
    frac = done / total if counting else 0.0
    count = f": {done:,} of {total:,} examples" if counting else "…"
    left = ""
    spent = charts.seconds_between(status.phase_started, status.updated)
    if counting and done and spent and done < total:
        left = f" · time left {charts.format_eta((total - done) * spent / done)}"
    return (
        f'<div class="ft-progress"><div class="ft-bar"><div style="width:{frac:.1%}"></div></div>'
        f"<b>running</b> · {html.escape(phase)}{count}{left}</div>"
    )


def device_line() -> str:
    try:
        return f"Device: **{device.describe(device.device_info())}**"
    except Exception as exc:  # never break the page over a device probe
        return f"Device: unknown ({type(exc).__name__})"


# ---- layout -----------------------------------------------------------------------------
@dataclass
class TrainStep:
    fields: dict[str, Any]  # config key -> widget, for the keys of this step and Advanced
    processes: Any
    accelerate_config: Any
    yaml_box: Any
    cli_box: Any
    config_dl: Any
    config_up: Any
    config_refresh: Any
    train: Any
    stop: Any
    msg: Any
    open_results: Any
    resume: Any  # shown for a stopped, failed or interrupted run
    more: Any  # "Train more": shown for a completed run
    resolved: Any  # the followed run's resolved values, read-only
    progress: Any
    loss_plot: Any
    metric_plot: Any
    lr_plot: Any
    log_scale: Any
    log_box: Any


def render(shared: Shared) -> TrainStep:
    gr.Markdown(device_line(), elem_id="device-line")
    fields = form.render_group(TRAIN_STEP, epochs={"minimum": 0.01})
    with gr.Accordion("Advanced", open=False):
        fields.update(form.render_group(ADVANCED))
        with gr.Row():
            gpus = device.device_info().get("count", 1)
            procs = gr.Number(
                label="Processes",
                value=1,
                precision=0,
                minimum=1,
                maximum=max(2, gpus) * 8,
                elem_id="processes",
                info=f"{gpus} device(s) here; more than 1 runs `accelerate launch` (DDP)",
            )
            acc_cfg = gr.File(
                label="Accelerate config (optional: DDP, FSDP, DeepSpeed)",
                file_types=[".yaml", ".yml", ".json"],
            )
    with gr.Accordion("Config (YAML) and command line", open=False), gr.Row():
        yaml_box = gr.Code(language="yaml", label="run.yaml", elem_id="config-yaml")
        with gr.Column():
            cli_box = gr.Textbox(label="Command line", lines=4, elem_id="cli-line")
            dl = gr.DownloadButton("Download run.yaml", value=None)
            up = gr.File(label="Load a config file", file_types=[".yaml", ".yml", ".json"])
            refresh = gr.Button("Refresh from the form", size="sm")
    with gr.Row():
        train_btn = gr.Button("Train", variant="primary", elem_id="train-btn", scale=2)
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1)
    train_msg = gr.HTML(elem_id="train-msg")
    with gr.Row():
        open_results = gr.Button("See the results", visible=False, elem_id="open-results")
        resume_btn = gr.Button(
            "Resume from the last checkpoint", visible=False, elem_id="resume-btn"
        )
        more_btn = gr.Button(
            "Train more (Epochs above, from its weights)", visible=False, elem_id="more-btn"
        )
    resolved = gr.Markdown(elem_id="resolved")
    prog = gr.HTML(elem_id="train-progress")
    with gr.Row():
        loss_plot = gr.Plot(elem_id="loss-plot", label="Loss")
        metric_plot = gr.Plot(elem_id="metrics-plot", label="Evaluation")
    with gr.Row():
        lr_plot = gr.Plot(elem_id="lr-plot", label="Learning rate")
        with gr.Column():
            log_scale = gr.Checkbox(label="Log-scale loss", value=False)
            log_box = gr.Textbox(label="Last log lines", lines=8, elem_id="train-log")
    return TrainStep(
        fields,
        procs,
        acc_cfg,
        yaml_box,
        cli_box,
        dl,
        up,
        refresh,
        train_btn,
        stop_btn,
        train_msg,
        open_results,
        resume_btn,
        more_btn,
        resolved,
        prog,
        loss_plot,
        metric_plot,
        lr_plot,
        log_scale,
        log_box,
    )
