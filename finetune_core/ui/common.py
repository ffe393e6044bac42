"""Pieces every tab shares: the session owner id, the form registry, messages, hosting mode.

The owner id is a random value kept in the browser (localStorage, encrypted with a secret
that survives server restarts), so a refresh or a second tab of the same browser re-attaches
to its jobs while other browsers never see them. API clients (gradio_client) get one per
session from `ensure_owner`.
"""

from __future__ import annotations

import html
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_core import runs

OK, WARN, ERROR = "ok", "warn", "error"


def new_owner() -> str:
    return secrets.token_hex(16)


def ensure_owner(owner: str | None) -> str:
    return owner if isinstance(owner, str) and len(owner) >= 16 else new_owner()


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
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("SYSTEM") == "spaces"


def hosted() -> bool:
    """Hosted for others: local paths are restricted and the runs list is per session."""
    return on_spaces() or os.environ.get("FINETUNE_HOSTED", "") == "1"


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
    """Components that several tabs read or write, and the config-form registry.

    `fields` maps RunConfig keys to the components that hold them: the Train button, the
    YAML preview and the config upload all go through it, so the form, the file and the CLI
    line come from one schema.
    """

    owner: Any = None
    browser_owner: Any = None
    job_id: Any = None
    token: Any = None
    fields: dict[str, Any] = field(default_factory=dict)
    groups: Any = None  # gr.State: layer groups of the chosen model (list of dicts)
    extra: dict[str, Any] = field(default_factory=dict)


def allowed_roots() -> list[Path]:
    """Folders a hosted dashboard may read local data/models from (uploads, bundled assets)."""
    from finetune_core.ui.uploads import uploads_root

    roots = [uploads_root(), Path(__file__).resolve().parents[2] / "assets"]
    extra = os.environ.get("FINETUNE_ALLOWED_PATHS", "")
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def check_local_path(source: str) -> str | None:
    """When hosted, a local path outside the allowed roots is refused (one sentence)."""
    if not source or not hosted():
        return None
    from finetune_core.data.load import is_local

    if not is_local(source):  # the engine's own test: a Hub id is never read from disk
        return None
    from finetune_core.model import BUNDLED_MODEL

    if source == BUNDLED_MODEL:
        return None
    path = Path(source).expanduser().resolve()
    if any(path == root or root in path.parents for root in allowed_roots()):
        return None
    return "Local paths are not available on this hosted dashboard; upload the file instead."


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def search_table(search_fn, row_of, what: str, offline_extra: str, **kwargs):
    """(rows, notice, next page) for a results table: one search, its rows, and a notice
    that says when the answer came from offline sources or found nothing."""
    from finetune_core.errors import FinetuneError

    try:
        result = search_fn(**kwargs)
    except FinetuneError as exc:
        return [], message(str(exc)), None
    rows = [row_of(hit) for hit in result.results]
    notice = ""
    if result.offline:
        notice = message(f"Offline: {result.reason}. Showing {offline_extra}.", WARN)
    elif not rows:
        notice = message(f"No {what} match; try other words or another task filter.", WARN)
    return rows, notice, result.next_page
