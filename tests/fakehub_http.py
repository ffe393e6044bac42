"""HTTP side of the fake Hub: routing, auth, errors with the real Hub's X-Error-Code headers.

Stdlib only (see fakehub.py for what is served and why).
"""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import fakehub_upload
from fakehub_repo import HttpError, Repo, info, only, paths_info, tags_of, tree

PUBLIC_IN_GATED = {"README.md", ".gitattributes"}
SORT_KEYS = {
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trendingScore",
    "trending_score": "trendingScore",
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
}
PAGE_MAX = 1000


class Handler(BaseHTTPRequestHandler):
    hub: Any  # the FakeHub serving this handler (set by FakeHub.start)
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every answer
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
        hub._record(method, self.path, self.headers.get("Authorization"))
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if hub.mode == "hang":
            hub._release.wait(hub.hang_seconds)
        if hub.mode == "down":
            return self._error(HttpError(503, "Service Unavailable"), method)
        try:
            self._route(method, body)
        except HttpError as err:
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

    def _error(self, err: HttpError, method: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Error-Message": err.message,
            **err.headers,
        }
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
            raise HttpError(401, "Invalid credentials in Authorization header")
        return token

    def _repo(self, kind: str, repo_id: str, *, file: str | None = None) -> Repo:
        token = self._token()
        repo = self.hub.repos.get((kind, repo_id))
        label = "Dataset" if kind == "dataset" else "Repository"
        if repo is None:
            raise HttpError(404, f"{label} not found", "RepoNotFound")
        if repo.private and token is None:
            raise HttpError(401, "Invalid username or password.", "RepoNotFound")
        if repo.gated and token is None and file is not None and file not in PUBLIC_IN_GATED:
            raise HttpError(
                401,
                f"Access to {kind} {repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
                "GatedRepo",
            )
        return repo

    @staticmethod
    def _revision(repo: Repo, rev: str) -> None:
        if rev not in ("main", "refs/heads/main", repo.sha):
            raise HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    # ---- routing ----------------------------------------------------------------------
    def _route(self, method: str, body: bytes) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        segs = [unquote(s) for s in split.path.strip("/").split("/")] if split.path != "/" else []
        if segs[:2] == ["api", "whoami-v2"]:
            return self._whoami(method)
        if segs == ["api", "repos", "create"] and method == "POST":
            return fakehub_upload.create_repo(self, body, method)
        if segs == ["api", "validate-yaml"] and method == "POST":
            return fakehub_upload.validate_yaml(self, body, method)
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
                return self._resolve(kind, repo_id, segs[at + 1], "/".join(segs[at + 2 :]), method)
        self.hub.unknown.append((method, self.path))
        raise HttpError(404, f"FakeHub has no route for {method} {split.path}")

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
            data = info(repo, full=True, blobs=_true(query.get("blobs")))
            fields = query.get("expand") or query.get("expand[]")
            return self._json(only(data, fields) if fields else data, method)
        if rest[0] == "tree" and len(rest) >= 2:
            repo = self._repo(kind, repo_id)
            self._revision(repo, rest[1])
            path = "/".join(rest[2:]).strip("/")
            return self._json(
                tree(repo, path, _true(query.get("recursive")), _true(query.get("expand"))), method
            )
        if rest[0] == "paths-info" and len(rest) >= 2 and method == "POST":
            repo = self._repo(kind, repo_id)
            self._revision(repo, "/".join(rest[1:]))
            form = parse_qs(body.decode())
            if "application/json" in (self.headers.get("Content-Type") or ""):
                form = {k: v if isinstance(v, list) else [v] for k, v in json.loads(body).items()}
            return self._json(
                paths_info(repo, form.get("paths", []), _true(form.get("expand"))), method
            )
        if rest[0] in ("preupload", "commit") and len(rest) >= 2 and method == "POST":
            rev = "/".join(rest[1:])
            return fakehub_upload.write(self, rest[0], kind, repo_id, rev, query, body, method)
        if rest == ["auth-check"]:  # a gated repo's files need a token, so this does too
            self._repo(kind, repo_id, file="auth-check")
            return self._json({}, method)
        if rest == ["refs"]:
            repo = self._repo(kind, repo_id)
            main = {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.sha}
            return self._json({"branches": [main], "tags": [], "converts": []}, method)
        self.hub.unknown.append((method, self.path))
        raise HttpError(404, f"FakeHub has no route for {method} {self.path}")

    def _whoami(self, method: str) -> None:
        token = self._token()
        if token is None:
            raise HttpError(401, "Invalid credentials in Authorization header")
        self._json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": fakehub_upload.USER,
                "fullname": "Test User",
                "avatarUrl": "/avatars/test-user.svg",  # gradio's local sign-in reads it
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "tests", "role": "read"},
                },
            },
            method,
        )

    def _list(self, kind: str, query: dict, method: str, path: str) -> None:
        token = self._token()
        repos = [
            r
            for (k, _), r in list(self.hub.repos.items())
            if k == kind and (not r.private or token is not None)
        ]
        for text in query.get("search", []):
            repos = [r for r in repos if text.lower() in r.id.lower()]
        for value in query.get("filter", []):
            repos = [r for r in repos if value in tags_of(r)]
        if query.get("pipeline_tag"):
            repos = [r for r in repos if r.meta.get("pipeline_tag") == query["pipeline_tag"][0]]
        if query.get("author"):
            repos = [r for r in repos if r.id.startswith(query["author"][0] + "/")]
        if query.get("gated"):
            want = _true(query["gated"])
            repos = [r for r in repos if r.gated == want]
        key = SORT_KEYS.get((query.get("sort") or ["trendingScore"])[0])
        if key is None:
            raise HttpError(400, f"Invalid sort: {query['sort'][0]}")
        repos.sort(key=lambda r: r.id)
        repos.sort(key=lambda r: r.meta[key], reverse=True)
        limit = min(int((query.get("limit") or [PAGE_MAX])[0]), PAGE_MAX)
        offset = _decode_cursor((query.get("cursor") or [""])[0])
        page = repos[offset : offset + limit]
        headers = {}
        if offset + limit < len(repos):
            params = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            params.append(("cursor", _encode_cursor(offset + limit)))
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            headers["Link"] = f'<http://{host}{path}?{urlencode(params)}>; rel="next"'
        fields = query.get("expand") or query.get("expand[]")
        full = _true(query.get("full"))
        items = []
        for repo in page:
            data = info(repo, full=True, blobs=False)
            if fields:
                items.append(only(data, fields))
            elif full:
                items.append(data)
            else:
                items.append(only(data, _LIST_DEFAULT[kind]))
        self._json(items, method, headers)

    def _resolve(self, kind: str, repo_id: str, rev: str, path: str, method: str) -> None:
        repo = self._repo(kind, repo_id, file=path)
        self._revision(repo, rev)
        commit = {"X-Repo-Commit": repo.sha}
        file = repo.files.get(path)
        if file is None:
            raise HttpError(404, "Entry not found", "EntryNotFound", commit)
        etag = file.sha256 or file.oid
        headers = {
            **commit,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if file.sha256:
            headers.update({"X-Linked-Etag": f'"{file.sha256}"', "X-Linked-Size": str(file.size)})
        data = file.source.read_bytes()
        rng = self.headers.get("Range")
        if rng:
            start, end = _parse_range(rng, len(data))
            if start >= len(data) or start > end:
                raise HttpError(
                    416, "Range Not Satisfiable", None, {"Content-Range": f"bytes */{len(data)}"}
                )
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start : end + 1], headers, method)
        self._send(200, data, headers, method)


_LIST_DEFAULT = {
    "model": [
        "likes",
        "trendingScore",
        "private",
        "downloads",
        "tags",
        "pipeline_tag",
        "library_name",
        "createdAt",
    ],
    "dataset": [
        "author",
        "cardData",
        "disabled",
        "gated",
        "lastModified",
        "likes",
        "trendingScore",
        "private",
        "sha",
        "downloads",
        "tags",
        "createdAt",
    ],
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
        raise HttpError(400, "Invalid cursor") from exc


def _parse_range(header: str, total: int) -> tuple[int, int]:
    spec = header.split("=", 1)[1].split(",")[0].strip()
    first, _, last = spec.partition("-")
    if not first:  # suffix range: the last N bytes
        return max(total - int(last), 0), total - 1
    return int(first), min(int(last), total - 1) if last else total - 1
