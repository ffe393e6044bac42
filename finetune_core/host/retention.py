"""What the server keeps for visitors, and for how long: uploads and temporary exports.

- Exports (the model zip a Download makes, an action's work folder: ONNX zip, predictions)
  live under one folder per run in the exports folder (FINETUNE_EXPORTS_DIR, default
  RUNS/.exports), are made once per saved model and reused, go with their run, and expire
  after FINETUNE_EXPORT_TTL_MINUTES.
- Uploads (one random folder each, under the uploads folder) go with the last run that uses
  them (jobs/cleanup.py) and expire FINETUNE_UPLOAD_TTL_HOURS after their last use (hosted
  default 24 h, kept locally); an upload a queued or running run reads is never removed.

`sweep` applies both expiries; the page calls it on each upload and each export, at most
once a minute.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

from finetune_core import runs
from finetune_core.host import env
from finetune_core.host.paths import uploads_root

SWEEP_EVERY = 60.0  # seconds between two sweeps (each lists the runs folder)
_last_sweep = 0.0
_lock = threading.Lock()


def exports_root() -> Path:
    return Path(os.environ.get("FINETUNE_EXPORTS_DIR") or runs.runs_root() / ".exports")


def exports_of(run_dir: str | Path) -> Path:
    """The run's own exports folder: its name and a hash of its full path (two run folders of
    one name in different places never share a zip)."""
    real = Path(run_dir).resolve()
    digest = hashlib.sha256(str(real).encode()).hexdigest()[:12]
    return exports_root() / f"{real.name}-{digest}"


def upload_of(source: str | None) -> Path | None:
    """The upload folder a dataset path lies in (uploads/<random>/...), else None."""
    if not source:
        return None
    root = uploads_root().expanduser().resolve()
    try:
        rel = Path(str(source)).expanduser().resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    return root / rel.parts[0] if rel.parts else None


def remove_upload(source: str | Path) -> None:
    """Remove the upload folder a path lies in (and nothing outside the uploads folder)."""
    folder = upload_of(str(source))
    if folder is not None:
        _remove(folder)


def _run_uploads():
    """(run, the upload folder its dataset lies in, or None) for every run in the runs folder."""
    for view in runs.list_runs():
        yield view, upload_of(str(view.config.get("dataset") or ""))


def in_use(upload: Path) -> bool:
    """Whether a run under the runs folder trains on a dataset inside `upload`."""
    return any(used == upload for _, used in _run_uploads())


def sweep(*, force: bool = False, now: float | None = None) -> None:
    """Remove expired exports and uploads (at most once a minute unless forced)."""
    global _last_sweep
    with _lock:
        if not force and time.time() - _last_sweep < SWEEP_EVERY:
            return
        _last_sweep = time.time()
    now = now or time.time()  # a later clock (tests) ages everything, the throttle keeps real time
    lim = env.limits()
    if lim.export_ttl_minutes:
        _expire(exports_root(), lim.export_ttl_minutes * 60, now, depth=2)
    if lim.upload_ttl_hours:
        _expire_uploads(lim.upload_ttl_hours * 3600, now)


def _expire(root: Path, ttl: float, now: float, depth: int) -> None:
    """Remove entries older than ttl, `depth` levels down (a run's folder, then its exports);
    a run's folder goes when it is empty."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        try:
            if depth > 1 and entry.is_dir():
                _expire(entry, ttl, now, depth - 1)
                if not any(entry.iterdir()):
                    entry.rmdir()
            elif now - entry.stat().st_mtime > ttl:
                _remove(entry)
        except OSError:
            continue


def _expire_uploads(ttl: float, now: float) -> None:
    root = uploads_root()
    if not root.is_dir():
        return
    used: dict[Path, float] = {}
    active: set[Path] = set()
    for view, upload in _run_uploads():
        if upload is None:
            continue
        if view.state in runs.ACTIVE:
            active.add(upload)
        stamp = _mtime(view.path / runs.STATUS)
        used[upload] = max(used.get(upload, 0.0), stamp)
    for entry in root.iterdir():
        real = entry.resolve()
        if real in active or not entry.is_dir():
            continue
        last = max(_mtime(entry), used.get(real, 0.0))
        if now - last > ttl:
            _remove(entry)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
