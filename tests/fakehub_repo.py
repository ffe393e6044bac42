"""Repos of the fake Hub: files with git/LFS ids, and the JSON the Hub API returns for them.

Stdlib only (see fakehub.py). `info`, `tree` and `paths_info` build the bodies of
/api/{models,datasets}/{id}, .../tree/{rev}/{path} and .../paths-info/{rev} the way the
real Hub shapes them (field names, LFS pointers, lastCommit with expand).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LFS_SUFFIXES = {".safetensors", ".bin", ".parquet", ".arrow", ".pt", ".h5", ".onnx"}
LFS_SUFFIXES |= {".msgpack", ".png", ".jpg", ".jpeg", ".webp", ".zip", ".gz"}


def iso(value: str | datetime | None) -> str:
    if value is None:
        value = datetime.now(timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class RepoFile:
    path: str
    source: Path
    size: int
    oid: str  # git blob sha1 (of the LFS pointer for LFS files)
    sha256: str | None  # set for LFS files

    @classmethod
    def read(cls, path: str, source: Path) -> RepoFile:
        data = source.read_bytes()
        lfs = source.suffix.lower() in LFS_SUFFIXES or len(data) > 10_000_000
        sha256 = hashlib.sha256(data).hexdigest() if lfs else None
        blob = _pointer(sha256, len(data)) if sha256 else data
        oid = hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
        return cls(path, source, len(data), oid, sha256)

    def entry(self, commit: dict | None) -> dict:
        out: dict[str, Any] = {
            "type": "file",
            "oid": self.oid,
            "size": self.size,
            "path": self.path,
        }
        if self.sha256:
            size = len(_pointer(self.sha256, self.size))
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": size}
        if commit:
            out["lastCommit"] = commit
        return out


def _pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    ).encode()


@dataclass
class Repo:
    kind: str  # "model" | "dataset"
    id: str
    files: dict[str, RepoFile]
    meta: dict[str, Any]
    private: bool = False
    gated: bool = False
    sha: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def dirs(self) -> set[str]:
        out = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return out

    def commit(self) -> dict:
        return {"id": self.sha, "title": "Upload folder", "date": self.meta["lastModified"]}


class HttpError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def front_matter(file: RepoFile | None) -> dict:
    """YAML metadata of a README (cardData on the real Hub); needs PyYAML, else empty."""
    if file is None:
        return {}
    text = file.source.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    block = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    try:
        import yaml  # lazily: this module stays importable with the stdlib alone
    except ImportError:
        return {}
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def tags_of(repo: Repo) -> set[str]:
    meta = repo.meta
    return {*meta["tags"], *(x for x in (meta.get("pipeline_tag"), meta.get("library_name")) if x)}


def info(repo: Repo, *, full: bool, blobs: bool) -> dict:
    meta = repo.meta
    data: dict[str, Any] = {
        "_id": repo.sha[:24],
        "id": repo.id,
        "author": meta["author"],
        "sha": repo.sha,
        "lastModified": meta["lastModified"],
        "createdAt": meta["createdAt"],
        "private": repo.private,
        "gated": "auto" if repo.gated else False,
        "disabled": False,
        "downloads": meta["downloads"],
        "likes": meta["likes"],
        "trendingScore": meta["trendingScore"],
        "tags": list(meta["tags"]),
        "cardData": meta["cardData"],
        "usedStorage": sum(f.size for f in repo.files.values()),
        "siblings": [_sibling(f, blobs) for f in repo.files.values()],
    }
    if repo.kind == "model":
        data["modelId"] = repo.id
        data["pipeline_tag"] = meta.get("pipeline_tag")
        data["library_name"] = meta.get("library_name")
        if repo.config:
            data["config"] = repo.config
        if "safetensors" in meta:
            data["safetensors"] = meta["safetensors"]
    return data


def _sibling(file: RepoFile, blobs: bool) -> dict:
    out: dict[str, Any] = {"rfilename": file.path}
    if blobs:
        out.update({"size": file.size, "blobId": file.oid})
        if file.sha256:
            size = len(_pointer(file.sha256, file.size))
            out["lfs"] = {"size": file.size, "sha256": file.sha256, "pointerSize": size}
    return out


def only(data: dict, fields: list[str]) -> dict:
    keep = {"id", "_id", *fields}
    return {k: v for k, v in data.items() if k in keep}


def tree(repo: Repo, path: str, recursive: bool, expand: bool) -> list[dict]:
    dirs = repo.dirs()
    if path and path not in dirs:
        if path in repo.files:
            raise HttpError(400, f"{path} is a file, not a folder")
        raise HttpError(404, f"{path} does not exist", "EntryNotFound", {"X-Repo-Commit": repo.sha})
    prefix = f"{path}/" if path else ""
    commit = repo.commit() if expand else None

    def wanted(p: str) -> bool:
        return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

    out = [_dir_entry(d, commit) for d in sorted(dirs) if wanted(d)]
    out += [f.entry(commit) for p, f in sorted(repo.files.items()) if wanted(p)]
    return out


def _dir_entry(path: str, commit: dict | None) -> dict:
    out = {
        "type": "directory",
        "oid": hashlib.sha1(path.encode()).hexdigest(),
        "size": 0,
        "path": path,
    }
    if commit:
        out["lastCommit"] = commit
    return out


def paths_info(repo: Repo, paths: list[str], expand: bool) -> list[dict]:
    dirs = repo.dirs()
    commit = repo.commit() if expand else None
    out = []
    for path in paths:
        path = path.strip("/")
        if path in repo.files:
            out.append(repo.files[path].entry(commit))
        elif path in dirs:
            out.append(_dir_entry(path, commit))
    return out
