"""A run's name and note, kept in its run dir (runs.NOTES) and edited on the Runs tab by the
run's owner. A name is one short line; a note is free text, bounded."""

from __future__ import annotations

from pathlib import Path

from finetune_core import runs
from finetune_core.errors import FinetuneError

MAX_NAME, MAX_NOTE = 80, 2000


def read(path: str | Path) -> dict[str, str]:
    """{"name", "note"} of a run; empty strings when it has none (or the file is unreadable)."""
    data = runs.read_json(runs.RunDir(path).notes_path) or {}
    return {k: str(data.get(k) or "") for k in ("name", "note")}


def write(path: str | Path, name: str | None, note: str | None) -> dict[str, str]:
    """Save a run's name and note (both empty: the file is removed); raises FinetuneError
    with one sentence for a name or note that is too long."""
    name = " ".join(str(name or "").split())  # one line
    note = str(note or "").strip()
    if len(name) > MAX_NAME:
        raise FinetuneError(f"A run name is at most {MAX_NAME} characters; shorten it.")
    if len(note) > MAX_NOTE:
        raise FinetuneError(f"A run note is at most {MAX_NOTE:,} characters; shorten it.")
    rd = runs.RunDir(path)
    if not rd.path.is_dir():
        raise FinetuneError(f"Run {rd.path.name} no longer exists; refresh the list.")
    if not name and not note:
        rd.notes_path.unlink(missing_ok=True)
    else:
        rd.write_json(rd.notes_path, {"name": name, "note": note, "updated": runs.now_iso()})
    return {"name": name, "note": note}
