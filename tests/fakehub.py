"""A fake Hugging Face Hub on 127.0.0.1 for tests (stdlib only: conftest imports it first).

It serves the endpoints that huggingface_hub 2.x, transformers 5 and datasets 5 call, from
local folders registered with `add_model` / `add_dataset`: repo info, search/listing with
sort and cursor paging (`Link: <...>; rel="next"`), tree listing, paths-info, file resolve
(HEAD/GET, ranges) and whoami. Errors carry the `X-Error-Code` headers of the real Hub, so
clients raise RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError and
EntryNotFoundError as they would in production.

Behaviour that mirrors the real Hub:
- gated repos: info, tree and README.md are public; every other file needs a token in
  `hub.tokens` (401 GatedRepo without one);
- private repos: everything needs a token (401 RepoNotFound without one), and they are
  hidden from listings for anonymous callers;
- a token that is not in `hub.tokens` is refused with 401 "Invalid credentials ...".

Fault modes: `hub.mode` is "ok", "down" (every request gets 503) or "hang" (requests wait up
to `hub.hang_seconds` before answering normally); prefer the context managers
`with hub.down():` and `with hub.hanging():`. For "connection refused", point a client at
`FakeHub.closed_url()`, a loopback port with nothing listening.

Every request is recorded in `hub.requests` as (method, path-with-query); paths that no
route knows also go to `hub.unknown` (answered 404) so missing endpoints are easy to spot.
Not served: the dataset-viewer host (datasets-server.*) and upload/commit endpoints.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

LFS_SUFFIXES = {".safetensors", ".bin", ".parquet", ".arrow", ".pt", ".h5", ".onnx", ".msgpack",
                ".png", ".jpg", ".jpeg", ".webp", ".zip", ".gz"}
PUBLIC_IN_GATED = {"README.md", ".gitattributes"}
SORT_KEYS = {"downloads": "downloads", "likes": "likes", "trendingScore": "trendingScore",
             "trending_score": "trendingScore", "lastModified": "lastModified",
             "last_modified": "lastModified", "createdAt": "createdAt", "created_at": "createdAt"}
PAGE_MAX = 1000


def _iso(value: str | datetime | None) -> str:
    if value is None:
        value = datetime.now(timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class _File:
    path: str
    source: Path
    size: int
    oid: str  # git blob sha1 (of the LFS pointer for LFS files)
    sha256: str | None  # set for LFS files

    @classmethod
    def read(cls, path: str, source: Path) -> _File:
        data = source.read_bytes()
        lfs = source.suffix.lower() in LFS_SUFFIXES or len(data) > 10_000_000
        sha256 = hashlib.sha256(data).hexdigest() if lfs else None
        blob = _pointer(sha256, len(data)) if sha256 else data
        oid = hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
        return cls(path, source, len(data), oid, sha256)

    def entry(self, commit: dict | None) -> dict:
        out: dict[str, Any] = {"type": "file", "oid": self.oid, "size": self.size, "path": self.path}
        if self.sha256:
            size = len(_pointer(self.sha256, self.size))
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": size}
        if commit:
            out["lastCommit"] = commit
        return out


def _pointer(sha256: str, size: int) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\n"
            f"size {size}\n").encode()


@dataclass
class _Repo:
    kind: str  # "model" | "dataset"
    id: str
    files: dict[str, _File]
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


class FakeHub:
    """The loopback Hub: `start()`, register repos, point HF_ENDPOINT at `url`, `stop()`."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.tokens: set[str] = {"hf_test_token"}
        self.mode = "ok"
        self.hang_seconds = 30.0
        self.unknown: list[tuple[str, str]] = []
        self._requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> FakeHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fakehub")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeHub.start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @staticmethod
    def closed_url() -> str:
        """A loopback URL where nothing listens: connections are refused at once."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    # ---- fault modes --------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in ("ok", "down", "hang"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        if mode != "hang":  # wake hanging handlers so no thread outlives the test
            self._release.set()
            self._release = threading.Event()

    @contextlib.contextmanager
    def down(self):
        """Every request gets HTTP 503 inside the block."""
        self.set_mode("down")
        try:
            yield self
        finally:
            self.set_mode("ok")

    @contextlib.contextmanager
    def hanging(self, seconds: float = 30.0):
        """Requests wait `seconds` (or until the block ends) before answering."""
        self.hang_seconds = seconds
        self.set_mode("hang")
        try:
            yield self
        finally:
            self.set_mode("ok")

    # ---- request log ----------------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self.unknown.clear()

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((method, path))

    # ---- repos ------------------------------------------------------------------
    def add_model(self, repo_id: str, folder: str | Path, *, downloads: int = 0, likes: int = 0,
                  pipeline_tag: str | None = None, tags=(), library: str | None = "transformers",
                  gated: bool = False, private: bool = False, last_modified=None,
                  safetensors_params: int | dict | None = None, trending_score: int | None = None,
                  card_data: dict | None = None) -> _Repo:
        """Serve `folder` as model repo `repo_id`; the stats feed listing and sorting."""
        repo = self._add("model", repo_id, folder, downloads, likes, tags, gated, private,
                         last_modified, trending_score, card_data)
        meta = repo.meta
        meta["pipeline_tag"] = pipeline_tag
        meta["library_name"] = library
        extra = [t for t in (library, pipeline_tag) if t]
        if any(p.endswith(".safetensors") for p in repo.files):
            extra.append("safetensors")
        meta["tags"] = list(dict.fromkeys([*extra, *meta["tags"]]))
        if "config.json" in repo.files:
            with contextlib.suppress(ValueError):
                cfg = json.loads(repo.files["config.json"].source.read_text())
                repo.config = {k: cfg[k] for k in ("architectures", "model_type") if k in cfg}
        if safetensors_params is not None:
            params = (safetensors_params if isinstance(safetensors_params, dict)
                      else {"F32": int(safetensors_params)})
            meta["safetensors"] = {"parameters": params, "total": sum(params.values())}
        return repo

    def add_dataset(self, repo_id: str, folder: str | Path, *, downloads: int = 0, likes: int = 0,
                    tags=(), task_categories=(), gated: bool = False, private: bool = False,
                    size_category: str | None = None, last_modified=None,
                    trending_score: int | None = None, card_data: dict | None = None) -> _Repo:
        """Serve a folder of data files (csv/json/parquet/image folders) as a dataset repo."""
        repo = self._add("dataset", repo_id, folder, downloads, likes, tags, gated, private,
                         last_modified, trending_score, card_data)
        card = repo.meta["cardData"]
        extra = [f"task_categories:{t}" for t in task_categories]
        if task_categories:
            card.setdefault("task_categories", list(task_categories))
        if size_category:
            extra.append(f"size_categories:{size_category}")
            card.setdefault("size_categories", [size_category])
        repo.meta["tags"] = list(dict.fromkeys([*repo.meta["tags"], *extra]))
        return repo

    def add_files(self, repo_id: str, files: dict[str, str | Path], *, kind: str = "model") -> None:
        """Add or replace single files (path in repo -> local file) in a registered repo."""
        repo = self.repos[(kind, repo_id)]
        for path, source in files.items():
            repo.files[path] = _File.read(path, Path(source))

    def remove(self, repo_id: str, *, kind: str = "model") -> None:
        self.repos.pop((kind, repo_id), None)

    def _add(self, kind, repo_id, folder, downloads, likes, tags, gated, private, last_modified,
             trending_score, card_data) -> _Repo:
        folder = Path(folder)
        sources = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
        files = {}
        for src in sources:
            rel = src.name if src == folder else src.relative_to(folder).as_posix()
            files[rel] = _File.read(rel, src)
        card = dict(card_data or {})
        card.update(_front_matter(files.get("README.md")))
        tags = list(tags)
        for tag in tags:
            if tag.startswith("license:"):
                card.setdefault("license", tag.split(":", 1)[1])
        if "license" in card and f"license:{card['license']}" not in tags:
            tags.append(f"license:{card['license']}")
        modified = _iso(last_modified)
        meta = {
            "downloads": downloads,
            "likes": likes,
            "trendingScore": likes if trending_score is None else trending_score,
            "lastModified": modified,
            "createdAt": modified,
            "tags": tags,
            "cardData": card,
            "author": repo_id.split("/")[0] if "/" in repo_id else None,
        }
        sha = hashlib.sha1(f"{kind}:{repo_id}".encode()).hexdigest()
        repo = _Repo(kind, repo_id, files, meta, private=private, gated=gated, sha=sha)
        self.repos[(kind, repo_id)] = repo
        return repo


def _front_matter(file: _File | None) -> dict:
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


# ---- HTTP --------------------------------------------------------------------------
class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"

    def log_message(self, format, *args):  # quiet: tests read hub.requests instead
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        hub = self.hub
        hub._record(method, self.path)
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if hub.mode == "hang":
            hub._release.wait(hub.hang_seconds)
        if hub.mode == "down":
            return self._error(_HttpError(503, "Service Unavailable"), method)
        try:
            self._route(method, body)
        except _HttpError as err:
            self._error(err, method)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ---- responses --------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict, method: str) -> None:
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, method: str, headers: dict | None = None) -> None:
        body = json.dumps(data).encode()
        self._send(200, body, {"Content-Type": "application/json", **(headers or {})}, method)

    def _error(self, err: _HttpError, method: str) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": err.message, **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, json.dumps({"error": err.message}).encode(), headers, method)

    # ---- auth ----------------------------------------------------------------------
    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            return None
        token = auth[7:].strip()
        if token not in self.hub.tokens:
            raise _HttpError(401, "Invalid credentials in Authorization header")
        return token

    def _repo(self, kind: str, repo_id: str, *, file: str | None = None) -> _Repo:
        token = self._token()
        repo = self.hub.repos.get((kind, repo_id))
        label = "Dataset" if kind == "dataset" else "Repository"
        if repo is None:
            raise _HttpError(404, f"{label} not found", "RepoNotFound")
        if repo.private and token is None:
            raise _HttpError(401, "Invalid username or password.", "RepoNotFound")
        if repo.gated and token is None and file is not None and file not in PUBLIC_IN_GATED:
            raise _HttpError(
                401,
                f"Access to {kind} {repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
                "GatedRepo",
            )
        return repo

    @staticmethod
    def _revision(repo: _Repo, rev: str) -> None:
        if rev not in ("main", "refs/heads/main", repo.sha):
            raise _HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    # ---- routing ----------------------------------------------------------------------
    def _route(self, method: str, body: bytes) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        segs = [unquote(s) for s in split.path.strip("/").split("/")] if split.path != "/" else []
        if segs[:2] == ["api", "whoami-v2"]:
            return self._whoami(method)
        if len(segs) == 2 and segs[0] == "api" and segs[1] in ("models", "datasets"):
            return self._list(segs[1][:-1], query, method, split.path)
        if len(segs) >= 3 and segs[0] == "api" and segs[1] in ("models", "datasets"):
            kind = segs[1][:-1]
            repo_id, rest = self._split_id(kind, segs[2:])
            return self._api_repo(kind, repo_id, rest, query, method, body)
        if "resolve" in segs:
            kind = "dataset" if segs[0] == "datasets" else "model"
            start = 1 if segs[0] in ("datasets", "models") else 0
            at = segs.index("resolve", start)
            if at - start in (1, 2) and len(segs) > at + 2:
                repo_id = "/".join(segs[start:at])
                return self._resolve(kind, repo_id, segs[at + 1], "/".join(segs[at + 2:]), method)
        self.hub.unknown.append((method, self.path))
        raise _HttpError(404, f"FakeHub has no route for {method} {split.path}")

    def _split_id(self, kind: str, segs: list[str]) -> tuple[str, list[str]]:
        if len(segs) >= 2 and (kind, f"{segs[0]}/{segs[1]}") in self.hub.repos:
            return f"{segs[0]}/{segs[1]}", segs[2:]
        if (kind, segs[0]) in self.hub.repos:
            return segs[0], segs[1:]
        n = 2 if len(segs) >= 2 else 1
        return "/".join(segs[:n]), segs[n:]

    def _api_repo(self, kind, repo_id, rest, query, method, body) -> None:
        if not rest or rest[0] == "revision":
            repo = self._repo(kind, repo_id)
            if rest:
                self._revision(repo, "/".join(rest[1:]))
            data = _info(repo, full=True, blobs=_true(query.get("blobs")))
            expand = query.get("expand") or query.get("expand[]")
            return self._json(_expand(data, expand) if expand else data, method)
        if rest[0] == "tree" and len(rest) >= 2:
            repo = self._repo(kind, repo_id)
            self._revision(repo, rest[1])
            path = "/".join(rest[2:]).strip("/")
            return self._json(_tree(repo, path, _true(query.get("recursive")),
                                    _true(query.get("expand"))), method)
        if rest[0] == "paths-info" and len(rest) >= 2 and method == "POST":
            repo = self._repo(kind, repo_id)
            self._revision(repo, "/".join(rest[1:]))
            form = parse_qs(body.decode())
            if "application/json" in (self.headers.get("Content-Type") or ""):
                form = {k: v if isinstance(v, list) else [v] for k, v in json.loads(body).items()}
            return self._json(_paths_info(repo, form.get("paths", []), _true(form.get("expand"))),
                              method)
        if rest == ["refs"]:
            repo = self._repo(kind, repo_id)
            main = {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.sha}
            return self._json({"branches": [main], "tags": [], "converts": []}, method)
        self.hub.unknown.append((method, self.path))
        raise _HttpError(404, f"FakeHub has no route for {method} {self.path}")

    def _whoami(self, method: str) -> None:
        token = self._token()
        if token is None:
            raise _HttpError(401, "Invalid credentials in Authorization header")
        self._json({"type": "user", "id": "0" * 24, "name": "test-user", "fullname": "Test User",
                    "orgs": [], "auth": {"type": "access_token",
                                         "accessToken": {"displayName": "tests", "role": "read"}}},
                   method)

    def _list(self, kind: str, query: dict, method: str, path: str) -> None:
        token = self._token()
        repos = [r for (k, _), r in self.hub.repos.items()
                 if k == kind and (not r.private or token is not None)]
        for text in query.get("search", []):
            repos = [r for r in repos if text.lower() in r.id.lower()]
        for value in query.get("filter", []):
            repos = [r for r in repos if value in _tags(r)]
        if query.get("pipeline_tag"):
            repos = [r for r in repos if r.meta.get("pipeline_tag") == query["pipeline_tag"][0]]
        if query.get("author"):
            repos = [r for r in repos if r.id.startswith(query["author"][0] + "/")]
        if query.get("gated"):
            want = _true(query["gated"])
            repos = [r for r in repos if r.gated == want]
        key = SORT_KEYS.get((query.get("sort") or ["trendingScore"])[0])
        if key is None:
            raise _HttpError(400, f"Invalid sort: {query['sort'][0]}")
        repos.sort(key=lambda r: r.id)
        repos.sort(key=lambda r: r.meta[key], reverse=True)
        limit = min(int((query.get("limit") or [PAGE_MAX])[0]), PAGE_MAX)
        offset = _decode_cursor((query.get("cursor") or [""])[0])
        page = repos[offset: offset + limit]
        headers = {}
        if offset + limit < len(repos):
            params = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            params.append(("cursor", _encode_cursor(offset + limit)))
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            headers["Link"] = f'<http://{host}{path}?{urlencode(params)}>; rel="next"'
        expand = query.get("expand") or query.get("expand[]")
        full = _true(query.get("full"))
        items = []
        for repo in page:
            data = _info(repo, full=True, blobs=False)
            if expand:
                items.append(_expand(data, expand))
            elif full:
                items.append(data)
            else:
                items.append(_expand(data, _LIST_DEFAULT[kind]))
        self._json(items, method, headers)

    def _resolve(self, kind: str, repo_id: str, rev: str, path: str, method: str) -> None:
        repo = self._repo(kind, repo_id, file=path)
        self._revision(repo, rev)
        commit = {"X-Repo-Commit": repo.sha}
        file = repo.files.get(path)
        if file is None:
            raise _HttpError(404, "Entry not found", "EntryNotFound", commit)
        etag = file.sha256 or file.oid
        headers = {**commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if file.sha256:
            headers.update({"X-Linked-Etag": f'"{file.sha256}"', "X-Linked-Size": str(file.size)})
        data = file.source.read_bytes()
        rng = self.headers.get("Range")
        if rng:
            start, end = _parse_range(rng, len(data))
            if start >= len(data) or start > end:
                raise _HttpError(416, "Range Not Satisfiable", None,
                                 {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start: end + 1], headers, method)
        self._send(200, data, headers, method)


_LIST_DEFAULT = {
    "model": ["likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
              "library_name", "createdAt"],
    "dataset": ["author", "cardData", "disabled", "gated", "lastModified", "likes",
                "trendingScore", "private", "sha", "downloads", "tags", "createdAt"],
}


def _true(values: list[str] | None) -> bool:
    return bool(values) and values[0].lower() in ("1", "true", "yes")


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _HttpError(400, "Invalid cursor") from exc


def _parse_range(header: str, total: int) -> tuple[int, int]:
    spec = header.split("=", 1)[1].split(",")[0].strip()
    first, _, last = spec.partition("-")
    if not first:  # suffix range: the last N bytes
        return max(total - int(last), 0), total - 1
    return int(first), min(int(last), total - 1) if last else total - 1


def _tags(repo: _Repo) -> set[str]:
    meta = repo.meta
    return {*meta["tags"], *(x for x in (meta.get("pipeline_tag"), meta.get("library_name")) if x)}


def _info(repo: _Repo, *, full: bool, blobs: bool) -> dict:
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


def _sibling(file: _File, blobs: bool) -> dict:
    out: dict[str, Any] = {"rfilename": file.path}
    if blobs:
        out.update({"size": file.size, "blobId": file.oid})
        if file.sha256:
            size = len(_pointer(file.sha256, file.size))
            out["lfs"] = {"size": file.size, "sha256": file.sha256, "pointerSize": size}
    return out


def _expand(data: dict, fields: list[str]) -> dict:
    keep = {"id", "_id", *fields}
    return {k: v for k, v in data.items() if k in keep}


def _tree(repo: _Repo, path: str, recursive: bool, expand: bool) -> list[dict]:
    dirs = repo.dirs()
    if path and path not in dirs:
        if path in repo.files:
            raise _HttpError(400, f"{path} is a file, not a folder")
        raise _HttpError(404, f"{path} does not exist", "EntryNotFound",
                         {"X-Repo-Commit": repo.sha})
    prefix = f"{path}/" if path else ""
    commit = repo.commit() if expand else None

    def wanted(p: str) -> bool:
        return p.startswith(prefix) and (recursive or "/" not in p[len(prefix):])

    out = [_dir_entry(d, commit) for d in sorted(dirs) if wanted(d)]
    out += [f.entry(commit) for p, f in sorted(repo.files.items()) if wanted(p)]
    return out


def _dir_entry(path: str, commit: dict | None) -> dict:
    out = {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0,
           "path": path}
    if commit:
        out["lastCommit"] = commit
    return out


def _paths_info(repo: _Repo, paths: list[str], expand: bool) -> list[dict]:
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


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (for asynchronous checks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
