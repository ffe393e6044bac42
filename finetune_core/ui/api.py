"""API endpoints for scripts (gradio_client): start, watch and stop runs with a config.

    from gradio_client import Client
    c = Client("http://127.0.0.1:7860/")
    job = c.predict("model: ...\\ndataset: ...", api_name="/start_run")
    c.predict(job["job_id"], api_name="/run_status")
    c.predict(job["job_id"], api_name="/resume_run")        # a stopped or interrupted run
    c.predict(job["job_id"], 2, api_name="/train_more")     # a completed one, 2 more epochs
    c.predict(job["job_id"], api_name="/delete_run")  # a finished run and what it alone used

The owner is the client's session, so one client never sees another's runs (on a dashboard
that is not hosted for others, the single user's: every run). Polling /run_status (or
/my_runs) is the client's presence: a queued run of a client that polls is never dropped as
abandoned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from finetune_core import charts, preflight, runs
from finetune_core.config import RunConfig, parse_text
from finetune_core.errors import FinetuneError
from finetune_core.jobs import cleanup, continuing
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui.common import check_local_path


def _owner(request: gr.Request | None) -> str:
    return f"api-{request.session_hash}" if request and request.session_hash else ""


def start_run(config_yaml: str, request: gr.Request) -> dict[str, Any]:
    """Queue a run from a YAML/JSON config; returns {"job_id", "run", "error"}."""
    try:
        cfg = RunConfig.from_dict(parse_text(config_yaml or "", "config"))
        for source in (cfg.model, cfg.dataset):
            refused = check_local_path(source)
            if refused:
                raise FinetuneError(refused)
        preflight.check(cfg)
        job = MANAGER.start(cfg, _owner(request))
    except FinetuneError as exc:
        return {"job_id": None, "run": None, "error": str(exc)}
    return {"job_id": job.id, "run": Path(job.run_dir).name, "error": None}


def run_status(job_id: str, request: gr.Request) -> dict[str, Any]:
    """State, progress and chart point counts of one of this client's runs."""
    owner = _owner(request)
    job = MANAGER.get(job_id, owner)
    if job is None:
        return {"state": "unknown", "error": "No such run for this session."}
    MANAGER.touch(owner)  # the client is still there: its queued run keeps its place
    status = runs.read_status(job.run_dir)
    records = runs.tail(job.run_dir)  # only the new lines, shared by all polls
    points = charts.loss_points(records)  # the loss chart's point count, no figure built
    report = runs.RunDir(job.run_dir).read_eval()
    return {
        "state": status.state,
        "error": status.error,
        "step": status.step,
        "max_steps": status.max_steps,
        "queue_position": MANAGER.queue_position(job),
        "loss_points": points,
        "eval": report is not None,
        "freeze_plan": status.freeze_plan,  # which plan, its estimate and why
        "warnings": list(status.warnings),
        "result": _result(report),
    }


RESULT_KEYS = ("accuracy", "f1_macro", "f1_micro", "report_split", "selection_split", "baseline")


def _result(report: dict | None) -> dict[str, Any] | None:
    """The run's headline result: the model's scores on the report split beside the quick
    baseline's (the page's Results and the CLI's last line show the same)."""
    if not report:
        return None
    return {k: report[k] for k in RESULT_KEYS if k in report}


def resume_run(job_id: str, request: gr.Request) -> dict[str, Any]:
    """Continue one of this client's stopped, failed or interrupted runs from its last
    checkpoint, in its folder; returns {"job_id" (the new job), "run", "error"}."""
    return _continue(job_id, request, lambda job, owner: continuing.resume(MANAGER, job, owner))


def train_more(job_id: str, epochs: float | None, request: gr.Request) -> dict[str, Any]:
    """Train a completed run's model further in a new run folder (`epochs`: how many more,
    empty for as many as it had); returns {"job_id", "run", "error"}."""
    return _continue(
        job_id,
        request,
        lambda job, owner: continuing.train_more(MANAGER, job, owner, epochs=epochs),
    )


def _continue(job_id: str, request: gr.Request, how) -> dict[str, Any]:
    owner = _owner(request)
    job = MANAGER.get(job_id, owner)
    if job is None:
        return {"job_id": None, "run": None, "error": "No such run for this session."}
    try:
        new = how(job, owner)
    except FinetuneError as exc:
        return {"job_id": None, "run": None, "error": str(exc)}
    return {"job_id": new.id, "run": Path(new.run_dir).name, "error": None}


def stop_run(job_id: str, request: gr.Request) -> dict[str, Any]:
    """Stop one of this client's runs (a queued one is cancelled)."""
    owner = _owner(request)
    job = MANAGER.get(job_id, owner)
    if job is None:
        return {"stopping": False, "error": "No such run for this session."}
    if not MANAGER.stop(job_id, owner):
        state = runs.read_status(job.run_dir).state
        return {"stopping": False, "error": f"The run already ended ({state}); nothing to stop."}
    return {"stopping": True, "error": None}


def delete_run(job_id: str, request: gr.Request) -> dict[str, Any]:
    """Delete one of this client's finished runs, with what it alone used (its upload,
    exports, tracker records)."""
    owner = _owner(request)
    job = MANAGER.get(job_id, owner)
    if job is None:
        return {"deleted": False, "error": "No such run for this session."}
    try:
        cleanup.delete_job(MANAGER, job, owner)
    except FinetuneError as exc:
        return {"deleted": False, "error": str(exc)}
    return {"deleted": True, "error": None}


def my_runs(request: gr.Request) -> list[dict[str, Any]]:
    """This client's runs: id, run folder name and state."""
    out = []
    for job in MANAGER.jobs_of(_owner(request)):
        status = runs.read_status(job.run_dir)  # a dead run reads as interrupted, as everywhere
        out.append({"job_id": job.id, "run": Path(job.run_dir).name, "state": status.state})
    return out


SCRIPT_API = (start_run, run_status, stop_run, delete_run, my_runs, resume_run, train_more)
PUBLIC = tuple(fn.__name__ for fn in SCRIPT_API)


def register() -> None:
    for fn in SCRIPT_API:
        gr.api(fn, api_name=fn.__name__, concurrency_limit=None)


def keep_only_script_api(demo: gr.Blocks) -> None:
    """Every page event becomes private (not in the API docs, refused by gradio_client):
    only the script API above is an endpoint; the page itself still calls its events."""
    for fn in demo.fns.values():
        if fn.api_name not in PUBLIC:
            fn.api_visibility = "private"
