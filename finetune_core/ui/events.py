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
from finetune_core.jobs import continuing, ownership
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui import form, state, train_tab
from finetune_core.ui.common import OK, WARN, browser_key, ensure_owner, message
from finetune_core.ui.state import Draft

_HF_PATH = re.compile(r"hf://[^\s'\"]*/([^/\s'\"]+)")
# a library's revision hashes mean nothing to a person: "@<sha>" in a path, "(at) revision
# <sha>", and any other 40-hex commit id are dropped
_AT_COMMIT = re.compile(r"@[0-9a-f]{40}\b")
_SHA = r"['\"]?[0-9a-f]{40}\b['\"]?"
_AT_REVISION = re.compile(rf"\s+(?:at|on|in)\s+(?:revision|commit)\s+{_SHA}")
_REVISION = re.compile(rf"\b(?:revision|commit)\s+{_SHA}")
_COMMIT = re.compile(r"\s*\(?\b[0-9a-f]{40}\b\)?")


def say(text: str, kind: str = "error") -> str:
    """A step message: page words, no raw hf:// paths, no commit hashes."""
    if not text:
        return ""
    text = _HF_PATH.sub(r"\1", form.page_words(_AT_COMMIT.sub("", text)))
    text = _REVISION.sub("the current version", _AT_REVISION.sub("", text))
    return message(_COMMIT.sub("", text), kind)


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
    """Queue a run for the form and the draft; (owner, draft, message). Refused first for
    what the summary bar already says is wrong (state.problems: the same checks)."""
    owner = ensure_owner(owner)
    why = not_loaded(d, values) or next(iter(state.problems(d)), "")
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
    return owner, _following(d, job_id, run, "queued", d.model, d.data), note


def _following(d: Draft, job_id: str, run: str | None, st: str, model, data) -> Draft:
    return dataclasses.replace(
        d,
        job_id=job_id,
        run=run,
        run_state=st,
        run_line=st,
        run_accuracy=None,
        run_model=model.id if model is not None else None,
        run_data=data.source if data is not None else None,
    )


def follow(d: Draft, status: runs.RunStatus, fraction: Any, eval_: dict | None) -> Draft:
    """The draft with where the followed run stands (state, accuracy, the summary bar's line)."""
    st = status.state
    acc = (eval_ or {}).get("accuracy")
    acc = acc if isinstance(acc, int | float) else None
    if st == "completed":
        line = f"done: accuracy {acc:.0%}" if acc is not None else "done"
    elif st == "stopped" and acc is not None:
        line = f"stopped: accuracy {acc:.0%}"
    elif st == "running":
        line = f"training {fraction:.0%}" if isinstance(fraction, int | float) else "training"
    else:
        line = st
    return dataclasses.replace(d, run_state=st, run_line=line, run_accuracy=acc)


def finished_banner(d: Draft, status: runs.RunStatus) -> str:
    """What the Train step says once the followed run ended, and what to do next."""
    score = f": accuracy {d.run_accuracy:.0%}" if d.run_accuracy is not None else ""
    if d.run_state == "completed":
        return message(f"Run {d.run} completed{score}. See step 5 · Results.", OK)
    if d.run_state == "stopped" and d.run_accuracy is not None:
        return message(
            f"Run {d.run} stopped at {status.reached()}; the model so far is saved and "
            f"evaluated{score}. See step 5 · Results, or resume it.",
            WARN,
        )
    if d.run_state == "stopped":
        return message(f"Run {d.run} stopped before training; resume it to go on.", WARN)
    if d.run_state == "interrupted":
        return message(
            f"Run {d.run} was {status.error or 'interrupted'} (a restart, or its process "
            "ended). Resume continues it from its last checkpoint.",
            WARN,
        )
    return ""


def resume(owner: str | None, d: Draft, token: str | None) -> tuple[Draft, str]:
    """Resume the followed run in its folder (continuing.resume); (draft, message)."""
    job = MANAGER.get(d.job_id, owner or "") if d.job_id else None
    if job is None:
        return d, say("There is no run of yours to resume here; train one first.")
    try:
        new = continuing.resume(MANAGER, job, owner or "", token=token or None)
    except FinetuneError as exc:
        return d, say(str(exc))
    at = runs.RunDir(new.run_dir).checkpoint_step()
    where = f"from its checkpoint at step {at}" if at else "from the start (no checkpoint yet)"
    new_d = dataclasses.replace(d, job_id=new.id, run_state="queued", run_line="queued")
    return new_d, message(f"Resuming {d.run} {where}; its charts continue.", OK)


def train_more(owner: str | None, d: Draft, token: str | None, epochs: Any) -> tuple[Draft, str]:
    """Train the followed (completed) run's model further in a new folder; (draft, message)."""
    job = MANAGER.get(d.job_id, owner or "") if d.job_id else None
    if job is None:
        return d, say("There is no run of yours to train further; train one first.")
    try:
        more = float(epochs) if epochs not in (None, "") else None
        new = continuing.train_more(MANAGER, job, owner or "", epochs=more, token=token or None)
    except (TypeError, ValueError):
        return d, say(f"Epochs must be a number, not '{epochs}'.")
    except FinetuneError as exc:
        return d, say(str(exc))
    name = Path(new.run_dir).name
    new_d = _following(d, new.id, name, "queued", d.model, d.data)
    return new_d, message(f"Started {name}: {d.run}'s model, trained further.", OK)


def identify(stored: str | None, username: str | None = None) -> tuple[str, str]:
    """(owner, the browser's own key): a visitor signed in with Hugging Face owns their runs
    by username in any browser; otherwise the random key this browser keeps."""
    browser = browser_key(stored)
    return (ownership.signed_in(username) if username else browser), browser


def latest_job(owner: str):
    """This visitor's run to show on a (re)load: one still going first, else the newest."""
    jobs = sorted(MANAGER.jobs_of(owner), key=lambda j: j.created)
    going = [j for j in jobs if j.state != "finished" or runs.read_status(j.run_dir).active]
    return (going or jobs or [None])[-1]


def _as_a_new_setup(cfg: RunConfig) -> RunConfig:
    """Train more starts from an earlier run's model/ folder, which the form cannot load as a
    model of its own (a hosted page refuses server paths): the form shows the model that run
    started from, as the setup to train next."""
    base = Path(cfg.model).parent
    if not runs.is_run(base) or runs.RunDir(base).model_dir != Path(cfg.model):
        return cfg
    asked = runs.RunDir(base).read_request() or {}
    model = asked.get("model")
    return dataclasses.replace(cfg, model=model) if isinstance(model, str) and model else cfg


def reattach(owner: str) -> tuple[Draft, RunConfig | None, str]:
    """This visitor's latest run (a running one first) and the request to restore the form
    from (what was asked; the resolved values are shown beside it); (draft, request, note)."""
    job = latest_job(owner)
    if job is None:
        return Draft(), None, ""
    view = runs.read_run(job.run_dir, metrics=False) if Path(job.run_dir).is_dir() else None
    try:
        cfg = RunConfig.from_dict(view.request) if view and view.request else job.config
    except FinetuneError:
        cfg = job.config  # the folder's request is unreadable: what this server was asked
    cfg = _as_a_new_setup(cfg)
    st = view.state if view else "deleted"
    d = Draft(num_labels=cfg.num_labels, pending_freeze=cfg.freeze)
    d = _following(d, job.id, Path(job.run_dir).name, st, None, None)
    d = dataclasses.replace(d, run_model=cfg.model or None, run_data=cfg.dataset or None)
    if view is not None:
        d = follow(d, view.status, None, view.eval)
    if st in runs.ACTIVE:
        note = message(f"Re-attached to your run {d.run}. Train now queues another run.", OK)
    elif st == "interrupted":
        note = message(f"Your run {d.run} was interrupted; Resume continues it.", WARN)
    else:
        note = message(f"Your last run {d.run} ({st}): what you asked is in the form.", OK)
    return d, cfg, note
