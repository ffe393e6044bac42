"""Uploads on the fake Hub: repo creation, preupload and commit, as huggingface_hub 2.x sends them.

Stdlib only (see fakehub.py). `create_repo` and `upload_folder` / `create_commit` call, in order:
POST /api/repos/create (409 with the repo's url when it exists: `exist_ok` reads it), POST
.../preupload/{rev} (which files go through LFS/Xet), optionally POST /api/validate-yaml (a
README in `create_commit`), then POST .../commit/{rev} with NDJSON lines (header, file,
deletedFile, deletedFolder). Every preupload answer is "regular", so the client sends each file
inline as base64 in the commit and there is no LFS or Xet transfer to fake. The answer carries
the stored file's git oid, so unchanged files are skipped as on the real Hub.

Writes need a token from `hub.tokens` (401 otherwise, as the real Hub). Committed files are kept
in the hub's own folder (see FakeHub.commit), never in the folders `add_model` serves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from fakehub_repo import HttpError

USER = "test-user"  # what whoami answers for every accepted token
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
KINDS = {"model": "", "dataset": "datasets/"}


def repo_url(hub: Any, kind: str, repo_id: str) -> str:
    return f"{hub.url}/{KINDS[kind]}{repo_id}"


def _writer(handler: Any) -> str:
    token = handler._token()  # 401 for a token the hub does not know
    if token is None:
        raise HttpError(401, "Invalid credentials in Authorization header")
    return token


def create_repo(handler: Any, body: bytes, method: str) -> None:
    """POST /api/repos/create {name, organization, type, visibility | private}."""
    _writer(handler)
    payload = _json_body(body)
    name, org = payload.get("name") or "", payload.get("organization") or USER
    kind = payload.get("type") or "model"
    if kind not in KINDS:
        raise HttpError(400, f"FakeHub serves model and dataset repos, not {kind!r}")
    if not NAME.match(name) or not NAME.match(org):
        raise HttpError(400, "Invalid repo name: use letters, digits, '-', '_' and '.'")
    repo_id = f"{org}/{name}"
    url = repo_url(handler.hub, kind, repo_id)
    if (kind, repo_id) in handler.hub.repos:
        message = f"You already created this {kind} repo"
        data = json.dumps({"error": message, "url": url}).encode()
        headers = {"Content-Type": "application/json", "X-Error-Message": message}
        return handler._send(409, data, headers, method)
    private = payload.get("visibility") == "private" or payload.get("private") is True
    handler.hub.create_repo(repo_id, kind=kind, private=private)
    handler._json(
        {"url": url, "name": repo_id, "id": hashlib.sha1(url.encode()).hexdigest()[:24]}, method
    )


def validate_yaml(handler: Any, body: bytes, method: str) -> None:
    """POST /api/validate-yaml: create_commit checks a README's metadata first."""
    _json_body(body)
    handler._json({"errors": [], "warnings": []}, method)


def write(
    handler: Any, op: str, kind: str, repo_id: str, rev: str, query: dict, body: bytes, method: str
) -> None:
    """POST .../preupload/{rev} or .../commit/{rev} of an existing repo."""
    _writer(handler)
    repo = handler._repo(kind, repo_id)
    handler._revision(repo, rev)
    if query.get("create_pr"):
        raise HttpError(400, "FakeHub does not open pull requests")
    if op == "preupload":
        files = _json_body(body).get("files") or []
        stored = repo.files
        answer = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": _git_oid(stored[f["path"]].source.read_bytes())
                if f["path"] in stored
                else None,
            }
            for f in files
        ]
        return handler._json({"files": answer, "commitOid": repo.sha}, method)
    summary, added, deleted = _parse_commit(body)
    header_parent = summary.get("parentCommit")
    if header_parent and header_parent != repo.sha:
        raise HttpError(412, "A commit has happened since. Please refresh and try again.")
    missing = [p for p, folder in deleted if not folder and p not in repo.files]
    if missing:
        raise HttpError(404, f"A file with this name doesn't exist: {missing[0]}", "EntryNotFound")
    sha = handler.hub.commit(repo, added, deleted)
    url = f"{repo_url(handler.hub, kind, repo.id)}/commit/{sha}"
    handler._json({"success": True, "commitOid": sha, "commitUrl": url, "hookOutput": ""}, method)


def _parse_commit(body: bytes) -> tuple[dict, dict[str, bytes], list[tuple[str, bool]]]:
    """NDJSON: a header line, then file / deletedFile / deletedFolder lines."""
    header: dict | None = None
    added: dict[str, bytes] = {}
    deleted: list[tuple[str, bool]] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        item = _json_body(line)
        key, value = item.get("key"), item.get("value") or {}
        if key == "header":
            header = value
        elif key == "file":
            if value.get("encoding") != "base64":
                raise HttpError(400, "FakeHub takes base64-encoded file content only")
            try:
                added[_clean(value.get("path"))] = base64.b64decode(
                    value.get("content") or "", validate=True
                )
            except binascii.Error:
                raise HttpError(400, "Invalid base64 content") from None
        elif key in ("deletedFile", "deletedFolder"):
            deleted.append((_clean(value.get("path")).rstrip("/"), key == "deletedFolder"))
        elif key == "lfsFile":
            raise HttpError(
                400, "FakeHub takes inline (regular) files only; no LFS upload was offered"
            )
        else:
            raise HttpError(400, f"Unknown commit operation {key!r}")
    if header is None or not header.get("summary"):
        raise HttpError(400, "The commit needs a header line with a summary")
    return header, added, deleted


def _clean(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise HttpError(400, f"Invalid path in repo: {path!r}")
    if any(part in ("", ".", "..") for part in path.rstrip("/").split("/")):
        raise HttpError(400, f"Invalid path in repo: {path!r}")
    return path


def _json_body(body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HttpError(400, "Invalid JSON body") from None
    if not isinstance(data, dict):
        raise HttpError(400, "The JSON body must be an object")
    return data


def _git_oid(data: bytes) -> str:
    """The git blob sha1 of the content: what the client compares to skip unchanged files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
