"""Pieces every tab shares: the session owner id, the form registry, messages, hosting mode.

The owner id is a random value kept in the browser (localStorage, encrypted with a secret
that survives server restarts), so a refresh or a second tab of the same browser re-attaches
to its jobs while other browsers never see them. API clients (gradio_client) get one per
session from `ensure_owner`.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_core import inert, runs
from finetune_core.host import paths

OK, WARN, ERROR = "ok", "warn", "error"
LOG = logging.getLogger("finetune_core.ui")


def new_owner() -> str:
    return secrets.token_hex(16)


_OWNER = re.compile(r"[0-9a-f]{32}")
_SIGNED_IN = re.compile(r"hf:[A-Za-z0-9][A-Za-z0-9._-]{0,95}")  # jobs/ownership.signed_in


def ensure_owner(owner: str | None) -> str:
    """The session's owner key when it is one this server makes: a browser key it issued (32
    hex digits) or a signed-in visitor's (`hf:` and a Hub username, set by the server from the
    sign-in, never from the browser); else a new one. Whatever else arrives (5 MB of text, a
    guess) is never kept or looked up."""
    if isinstance(owner, str) and (_OWNER.fullmatch(owner) or _SIGNED_IN.fullmatch(owner)):
        return owner
    return new_owner()


def browser_key(stored: str | None) -> str:
    """The key a browser keeps (localStorage): only one this server issued, else a new one; a
    browser claiming `hf:someone` does not become them."""
    return stored if isinstance(stored, str) and _OWNER.fullmatch(stored) else new_owner()


def browser_secret() -> str:
    """A per-installation secret for the browser-stored owner id (kept beside the runs)."""
    path = runs.runs_root() / ".dashboard-secret"
    try:
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(16)
        path.write_text(value)
        os.chmod(path, 0o600)
        return value
    except OSError:
        return secrets.token_hex(16)


def on_spaces() -> bool:
    return paths.on_spaces()


def hosted() -> bool:
    """Hosted for others: local paths are restricted and the runs list is per session."""
    return paths.hosted()


def message(text: str | None, kind: str = ERROR) -> str:
    """A one-line notice shown next to the field it is about (empty string hides it)."""
    if not text:
        return ""
    icon = {"ok": "✓", "warn": "!", "error": "✗"}[kind]
    return f'<div class="ft-msg ft-{kind}">{icon} {html.escape(str(text), quote=False)}</div>'


def human(n: float | int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


@dataclass
class Shared:
    """Session values every step reads: who the browser is, the draft run, the token."""

    owner: Any = None  # gr.State: this browser's owner id
    browser_owner: Any = None  # gr.BrowserState: the same id, kept across reloads
    draft: Any = None  # gr.State: the Draft (ui/state.py)
    token: Any = None  # gr.State: the user's Hub token, memory only
    oauth: Any = None  # gr.LoginButton on a Space with OAuth, else None


def guarded(fn: Callable, outputs: int, msg_at: int | None, msg: Any = None) -> Callable:
    """The boundary around a handler: any exception becomes the step's message (the output
    `msg`, at `msg_at`) with every other output left as it was; the traceback goes to the
    server log."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            import gradio as gr

            LOG.exception("page handler %s failed", getattr(fn, "__name__", fn))
            sentence = message(
                f"Something went wrong in this step ({type(exc).__name__}); the details "
                "are in the server log. Try again, or reload the page."
            )
            if msg is not None:
                return {msg: sentence}
            out: list[Any] = [gr.skip()] * outputs
            if msg_at is not None:
                out[msg_at] = sentence
            return out[0] if outputs == 1 else tuple(out)

    return run


def on(
    trigger: Callable,
    fn: Callable,
    inputs: Any,
    outputs: list,
    msg: Any = None,
    *,
    busy: Callable | None = None,
    **kw: Any,
):
    """`trigger(fn, inputs, outputs)` behind the boundary; `msg` is the output that shows
    this step's messages (it must be one of `outputs`). A handler that changes a session value
    (a gr.State holding a `SERIAL` object, the Draft) runs one at a time per session on the
    newest value (`serial`); `busy` answers instead when that session is busy (the poll)."""
    at = next((i for i, o in enumerate(outputs) if o is msg), None) if msg is not None else None
    if msg is not None and at is None:
        raise ValueError("the message output must be one of the outputs")
    if any(getattr(getattr(o, "value", None), "SERIAL", False) for o in outputs):
        fn = serial(fn, busy=busy)
    return trigger(guarded(fn, len(outputs), at, msg), inputs, outputs, **kw)


# ---- one change at a time per page session ---------------------------------------------
# Gradio runs a session's events concurrently, each on a snapshot of the state taken when it
# starts. Two events that both change the draft (a model load still running when the page-load
# chain loads the dataset; the 1 s poll during a load) then write back drafts built from stale
# snapshots and the later write wins: a click is lost (seen right after a restart, when loads
# are slow). So each session's draft-changing handlers run one at a time, on the newest draft.
_LOCKS: OrderedDict[str, threading.Lock] = OrderedDict()
_LATEST: OrderedDict[str, Any] = OrderedDict()
_GUARD = threading.Lock()
SESSIONS_KEPT = 4096


def _slot(session: str) -> threading.Lock:
    with _GUARD:
        lock = _LOCKS.pop(session, None) or threading.Lock()
        _LOCKS[session] = lock
        while len(_LOCKS) > SESSIONS_KEPT:
            old, _ = _LOCKS.popitem(last=False)
            _LATEST.pop(old, None)
        return lock


def _serial_value(value: Any) -> bool:
    """A session value bound to one page load (the page's initial value, shared by every
    load until the load event replaces it, has no session and is never shared through here)."""
    session = getattr(value, "session", None)
    return bool(getattr(value, "SERIAL", False) and isinstance(session, str) and session)


def serial(fn: Callable, busy: Callable | None = None) -> Callable:
    """`fn` run under its session's lock, given the session's newest value in place of the
    (possibly stale) snapshot it was called with; what it returns becomes the newest."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        at = next((i for i, a in enumerate(args) if _serial_value(a)), None)
        if at is None:
            return fn(*args, **kwargs)
        session = args[at].session
        lock = _slot(session)
        if not lock.acquire(blocking=busy is None):
            return busy(*args, **kwargs)
        try:
            with _GUARD:
                newest = _LATEST.get(session)
            if newest is not None:
                args = (*args[:at], newest, *args[at + 1 :])
            out = fn(*args, **kwargs)
            if isinstance(out, dict):
                values = list(out.values())
            else:
                values = list(out) if isinstance(out, list | tuple) else [out]
            new = next((v for v in values if _serial_value(v) and v.session == session), None)
            if new is not None:
                with _GUARD:
                    _LATEST[session] = new
            return out
        finally:
            lock.release()

    run.serial = True  # type: ignore[attr-defined]  # the built page is checked for it (tests)
    return run


def allowed_roots() -> list[Path]:
    """Folders a hosted dashboard may read local data/models from (see finetune_core.host.paths)."""
    return paths.allowed_roots()


def check_local_path(source: str) -> str | None:
    """When hosted, a local path outside the allowed roots is refused (one sentence)."""
    from finetune_core.model import BUNDLED_MODEL

    return None if source == BUNDLED_MODEL else paths.refusal(source)


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def md_text(value: Any) -> str:
    """A dataset- or Hub-provided string made inert inside Markdown/HTML (label names,
    column names, file names): it shows as written and never becomes a tag or a link."""
    return inert.md(value)
