"""The one path policy: which files the server may open for a visitor, and where runs go.

Hosted (a Space: `SPACE_ID`, or `FINETUNE_HOSTED=1`) means visitors are strangers. Then a
local path is read only when it lies inside an upload folder (one per upload, never the
uploads root itself, which holds everyone's uploads), the bundled assets, or a folder the
host lists in FINETUNE_ALLOWED_PATHS; every file a dataset's README/config resolves to
(`data_files`: absolute, `..`, globs, symlinks, URLs) must lie inside the dataset itself; an
accelerate config file is the host's choice, never a visitor's; runs always go under the runs
folder; a file a dataset's *rows* name (an Image column's `path`) must lie inside the dataset
(`media_refusal`). Locally every check passes and nothing changes, but for row paths that can
name no file of any dataset (URLs, relative paths, NUL bytes, over-long), refused everywhere.
Symlinks are resolved before checking, so a link cannot lead outside; the engine applies the
policy where it opens files (data/load, the model loader, preflight), so the page, the API and
subprocess runs share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from finetune_core import runs
from finetune_core.errors import ConfigError, DataError

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # finetune_core/host/ -> the repo
NOT_HERE = "Local paths are not available on this hosted dashboard; upload the file instead."


def on_spaces() -> bool:
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("SYSTEM") == "spaces"


def hosted() -> bool:
    """Hosted for others: local paths are confined, the host's token is never lent."""
    return on_spaces() or os.environ.get("FINETUNE_HOSTED", "") == "1"


def uploads_root() -> Path:
    return Path(os.environ.get("FINETUNE_UPLOADS_DIR", runs.runs_root() / "uploads"))


def allowed_roots() -> list[Path]:
    """Folders a hosted dashboard may read from: uploads, bundled assets, FINETUNE_ALLOWED_PATHS."""
    roots = [uploads_root(), ASSETS]
    extra = os.environ.get("FINETUNE_ALLOWED_PATHS", "")
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    return [r.expanduser().resolve() for r in roots]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def allowed(path: str | os.PathLike) -> bool:
    """True when a hosted dashboard may open `path` (symlinks resolved first)."""
    real = Path(path).expanduser().resolve()
    uploads = uploads_root().expanduser().resolve()
    if real == uploads:  # the root holds every visitor's uploads: only one upload at a time
        return False
    return any(_inside(real, root) for root in allowed_roots())


def is_local(source: str) -> bool:
    """A path on this machine (as opposed to a Hub id): the engine's one test for it."""
    return Path(source).expanduser().exists() or source.startswith(("/", "./", "../", "~"))


def refusal(source: str) -> str | None:
    """The sentence that refuses a local source when hosted, else None (Hub ids pass)."""
    if not source or not hosted() or not is_local(source):
        return None
    return None if allowed(source) else NOT_HERE


def check_source(source: str) -> None:
    """Raise DataError when a hosted visitor names a local path outside the allowed folders."""
    reason = refusal(str(source or "").strip())
    if reason:
        raise DataError(reason)


def check_data_files(source: str, data_files: Mapping[str, Iterable[str]] | None) -> None:
    """Every file a dataset resolves to (its README's `data_files`, after globs) must lie
    inside the dataset: a local dataset's own folder, a Hub dataset's own repo."""
    if not hosted() or not data_files:
        return
    local = Path(source).expanduser()
    base = local.resolve() if local.exists() else None
    for files in data_files.values():
        for name in files or ():
            text = str(name)
            if base is not None:
                ok = "://" not in text or text.startswith("file://")
                real = Path(text.removeprefix("file://")).resolve()
                ok = ok and _inside(real, base)
            else:
                ok = text.startswith(f"hf://datasets/{source}@") or text.startswith(
                    f"hf://datasets/{source}/"
                )
            if not ok:
                raise DataError(
                    f"Dataset {Path(source).name} points outside itself ({_name(text)}); "
                    "on this hosted dashboard a dataset may only read its own files."
                )


def _name(text: str) -> str:
    """The file's name only: a refusal must not tell a visitor where server files are."""
    return text.rstrip("/").rsplit("/", 1)[-1][:80] or "?"


def check_output_dir(output_dir: str | None) -> None:
    """Hosted: the run folder is chosen by the dashboard (under the runs folder), never given."""
    if output_dir and hosted():
        raise ConfigError(
            "output_dir cannot be chosen on this hosted dashboard; remove it and the run "
            "goes to the runs folder."
        )


def check_accelerate_config(path: str | None) -> None:
    """Hosted: an accelerate config file must be one the host placed (assets or
    FINETUNE_ALLOWED_PATHS), never a visitor's upload: it decides what the launcher runs."""
    if not path or not hosted():
        return
    real = Path(path).expanduser().resolve()
    if _inside(real, uploads_root().expanduser().resolve()) or not allowed(real):
        raise ConfigError(
            f"Accelerate config {Path(path).name} is not available on this hosted dashboard; "
            "leave it empty to use the default launcher."
        )


def check_run(cfg, accelerate_config: str | None = None) -> None:
    """The whole policy for one run a visitor asks for (model, dataset, output, launcher,
    keys only the run fills in)."""
    check_source(cfg.model)
    check_source(cfg.dataset)
    check_output_dir(cfg.output_dir)
    check_accelerate_config(accelerate_config)
    if hosted() and getattr(cfg, "freeze_plan", None) is not None:
        raise ConfigError(
            "freeze_plan is filled in by the run and cannot be set on this hosted dashboard; "
            "remove it and choose what to freeze with freeze."
        )


# ---- files named inside a dataset's rows ------------------------------------------------
MAX_PATH_CHARS = 4096  # Linux's PATH_MAX: no real file has a longer name


@dataclass(frozen=True)
class MediaHome:
    """Where the files a dataset's rows name may lie: its own folder (a local dataset; a single
    file's folder), or its Hub repo (streamed as hf://, downloaded into the Hub cache)."""

    folder: Path | None
    repo: str | None = None


def media_home(source: str) -> MediaHome:
    """The home of the dataset `source` (a local path or a Hub dataset id)."""
    if is_local(source):
        real = Path(source).expanduser().resolve()
        return MediaHome(real if real.is_dir() else real.parent)
    from huggingface_hub import constants  # the cache the datasets library downloads into

    folder = Path(constants.HF_HUB_CACHE) / ("datasets--" + source.replace("/", "--"))
    return MediaHome(folder.expanduser().resolve(), source)


def media_refusal(path: str, home: MediaHome) -> str | None:
    """Why the server may not open the file a row names (a phrase: "names a URL (http)"), or
    None. Hosted, a path outside the dataset is refused before anything touches it, so the
    answer is the same whether it exists, is a folder or is missing: no probing."""
    if "\x00" in path:
        return "has a path with a NUL character"
    if len(path) > MAX_PATH_CHARS:
        return f"has a path of {len(path):,} characters, over the limit of {MAX_PATH_CHARS:,}"
    scheme = path.split("://", 1)[0].lower() if "://" in path else None
    if scheme == "file":
        return "names a file:// URL"
    if scheme is not None:
        own = home.repo and path.startswith(
            (f"hf://datasets/{home.repo}@", f"hf://datasets/{home.repo}/")
        )
        if own and ".." not in path.split("/"):
            return None  # a file of the dataset's own Hub repo, fetched with the visitor's token
        return f"names a URL ({scheme[:10]}://...)"
    if not os.path.isabs(path):
        return f"names a relative path ({_name(path)})"
    if hosted() and (home.folder is None or not _inside(Path(path).resolve(), home.folder)):
        return f"names a file outside this dataset ({_name(path)})"
    if os.path.isdir(path):
        return f"names a folder ({_name(path)}), not an image file"
    if not os.path.exists(path):
        return f"names a file that does not exist ({_name(path)})"
    return None
