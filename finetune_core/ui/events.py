"""The page's events as plain functions over the session's Draft (no components here).

Each returns the new draft and what the page shows; `wiring.py` connects them to widgets.
Every message is in the page's words, and a Hub path from the datasets library is shortened
to its file name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui import form, state, train_tab
from finetune_core.ui.common import OK, WARN, ensure_owner, message
from finetune_core.ui.state import Draft

_HF_PATH = re.compile(r"hf://[^\s'\"]*/([^/\s'\"]+)")


def say(text: str, kind: str = "error") -> str:
    """A step message: page words, no raw hf:// paths."""
    return message(_HF_PATH.sub(r"\1", form.page_words(text)), kind) if text else ""


def load_model(d: Draft, model_id: str, token: str | None) -> tuple[Draft, str]:
    new, err = state.load_model(d, model_id, token)
    if err:
        return new, say(err)
    return new, say(new.model.warn, WARN) if new.model and new.model.warn else ""


def fit_max_length(d: Draft, value: Any, msg: str = "") -> tuple[Any, str]:
    """The Max length field after a model load, and the load's message with the line that
    says the field was lowered to the model's limit (when it was)."""
    value, note = state.fit_max_length(d, value)
    return value, " ".join(m for m in (msg, say(note, WARN)) if m)


def load_data(d: Draft, source: str, config: str | None, token: str | None):
    """(draft, card dict or None when it failed, message)."""
    new, card, err = state.load_data(d, source, config, token)
    if err:
        return new, None, say(err)
    warn = "" if card.get("label_column") else "No label column was detected; pick one below."
    warn = " ".join([warn, *(card.get("warnings") or [])]).strip()  # skipped images, ...
    return new, card, say(warn, WARN)


def set_num_labels(d: Draft, text: Any, token: str | None) -> tuple[Draft, str]:
    new, err = state.set_num_labels(d, text, token)
    return new, say(err)


def not_loaded(d: Draft, values: dict[str, Any]) -> str:
    """Why Train cannot use the form as it is: a model or dataset typed but not loaded."""
    model = str(values.get("model") or "").strip()
    data = str(values.get("dataset") or "").strip()
    if not model:
        return "Enter a model in step 1 and press “Use this model”."
    if d.model is None or d.model.id != model:
        now = f"'{d.model.id}'" if d.model else "no model yet"
        return f"Press “Use this model” to load '{model}' first (the page is set up for {now})."
    if not data:
        return "Enter a dataset in step 2 and press “Use this dataset”."
    if d.data is None or d.data.source != data:
        return f"Press “Use this dataset” to load '{data}' first."
    return ""


def train(
    owner: str | None,
    d: Draft,
    values: dict[str, Any],
    token: str | None,
    processes: Any = 1,
    accelerate_config: str | None = None,
) -> tuple[str, Draft, str]:
    """Queue a run for the form and the draft; (owner, draft, message)."""
    owner = ensure_owner(owner)
    why = not_loaded(d, values)
    if why:
        return owner, d, say(why)
    values = {**values, "frozen": d.freeze}
    owner, job_id, note = train_tab.start(
        owner, values, d.groups, token, processes, accelerate_config
    )
    if job_id is None:
        return owner, d, form.page_words(note)  # the page's words: "Label column", not the key
    job = MANAGER.get(job_id, owner)
    run = Path(job.run_dir).name if job else None
    return owner, dataclasses.replace(d, job_id=job_id, run=run, run_line="queued"), note


def run_line(p: dict[str, Any], eval_: dict | None) -> str:
    """Where the followed run stands, for the summary bar."""
    st = (p.get("status") or {}).get("state") or "queued"
    if st == "completed":
        acc = (eval_ or {}).get("accuracy")
        return f"done: accuracy {acc:.0%}" if isinstance(acc, int | float) else "done"
    if st == "running":
        frac = (p.get("progress") or {}).get("fraction")
        return f"training {frac:.0%}" if isinstance(frac, int | float) else "training"
    return st


def finished_banner(d: Draft, st: str) -> str:
    if st == "completed":
        score = d.run_line.removeprefix("done").lstrip(": ")
        done = f"completed: {score}" if score else "completed"
        return message(f"Run {d.run} {done}. See step 5 · Results.", OK)
    if st == "stopped":
        return message(f"Run {d.run} stopped; the model so far is saved. See step 5.", WARN)
    return ""


def reattach(stored_owner: str | None) -> tuple[str, Draft, RunConfig | None, str]:
    """This browser's latest job (a running one first), and the config to restore the form
    from; (owner, draft, config or None, message)."""
    owner = ensure_owner(stored_owner)
    jobs = sorted(MANAGER.jobs_of(owner), key=lambda j: j.created)
    active = [j for j in jobs if j.state != "finished"]
    job = (active or jobs or [None])[-1]
    if job is None:
        return owner, Draft(), None, ""
    try:
        cfg = RunConfig.from_dict(runs.read_run(job.run_dir, metrics=False).config or {})
    except FinetuneError:
        cfg = job.config  # the folder's config is not written yet (a queued job)
    d = Draft(
        num_labels=cfg.num_labels,
        pending_freeze=cfg.freeze,
        job_id=job.id,
        run=Path(job.run_dir).name,
        run_line="queued" if job.state == "queued" else "",
    )
    if job.state != "finished":
        note = message(f"Re-attached to your run {d.run}. Train now queues another run.", OK)
    else:
        note = message(f"Your last run {d.run}: its settings are in the form.", OK)
    return owner, d, cfg, note
