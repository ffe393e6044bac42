"""A fake Hugging Face Hub on 127.0.0.1 for tests (stdlib only: conftest imports it first).

It serves the endpoints that huggingface_hub 2.x, transformers 5 and datasets 5 call, from
local folders registered with `add_model` / `add_dataset`: repo info, search/listing with
sort and cursor paging (`Link: <...>; rel="next"`), tree listing, paths-info, file resolve
(HEAD/GET, ranges) and whoami; uploads: repo creation, preupload and commit (fakehub_upload.py),
so `create_repo` + `upload_folder` work and later downloads, info and tree see the files.
Errors carry the `X-Error-Code` headers of the real Hub, so
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

Repos: `add_model` / `add_dataset` serve a local folder (or one file) with fixed fake commit
shas; `add_files` adds or replaces files, `remove` drops a repo. `hub.tokens` holds the
accepted tokens (default {"hf_test_token"}). Code: this module (server, modes, repos),
fakehub_http.py (routing, auth, errors), fakehub_repo.py (files and the JSON bodies).

Every request is recorded in `hub.requests` as (method, path-with-query), and the bearer
token it carried (if any) in `hub.bearers` as (method, path, token); paths that no
route knows also go to `hub.unknown` (answered 404) so missing endpoints are easy to spot.
Not served: the dataset-viewer host (datasets-server.*), LFS/Xet transfers (every preupload
answer is "regular": content comes inline in the commit), pull requests and Spaces.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import socket
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from fakehub_http import Handler
from fakehub_repo import Repo, RepoFile, front_matter, iso


class FakeHub:
    """The loopback Hub: `start()`, register repos, point HF_ENDPOINT at `url`, `stop()`."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: set[str] = {"hf_test_token"}
        self.mode = "ok"
        self.hang_seconds = 30.0
        self.unknown: list[tuple[str, str]] = []
        self._requests: list[tuple[str, str]] = []
        self._bearers: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._storage: Path | None = None  # committed files, created on the first commit

    # ---- lifecycle --------------------------------------------------------------
    def start(self) -> FakeHub:
        handler = type("Handler", (Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="fakehub"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._storage is not None:
            shutil.rmtree(self._storage, ignore_errors=True)
            self._storage = None

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

    @property
    def bearers(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._bearers)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._bearers.clear()
            self.unknown.clear()

    def _record(self, method: str, path: str, authorization: str | None = None) -> None:
        with self._lock:
            self._requests.append((method, path))
            if authorization and authorization.lower().startswith("bearer "):
                self._bearers.append((method, path, authorization[7:].strip()))

    # ---- repos ------------------------------------------------------------------
    def add_model(
        self,
        repo_id: str,
        folder: str | Path,
        *,
        downloads: int = 0,
        likes: int = 0,
        pipeline_tag: str | None = None,
        tags=(),
        library: str | None = "transformers",
        gated: bool = False,
        private: bool = False,
        last_modified=None,
        safetensors_params: int | dict | None = None,
        trending_score: int | None = None,
        card_data: dict | None = None,
    ) -> Repo:
        """Serve `folder` as model repo `repo_id`; the stats feed listing and sorting."""
        repo = self._add(
            "model",
            repo_id,
            folder,
            downloads,
            likes,
            tags,
            gated,
            private,
            last_modified,
            trending_score,
            card_data,
        )
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
            params = (
                safetensors_params
                if isinstance(safetensors_params, dict)
                else {"F32": int(safetensors_params)}
            )
            meta["safetensors"] = {"parameters": params, "total": sum(params.values())}
        return repo

    def add_dataset(
        self,
        repo_id: str,
        folder: str | Path,
        *,
        downloads: int = 0,
        likes: int = 0,
        tags=(),
        task_categories=(),
        gated: bool = False,
        private: bool = False,
        size_category: str | None = None,
        last_modified=None,
        trending_score: int | None = None,
        card_data: dict | None = None,
    ) -> Repo:
        """Serve a folder of data files (csv/json/parquet/image folders) as a dataset repo."""
        repo = self._add(
            "dataset",
            repo_id,
            folder,
            downloads,
            likes,
            tags,
            gated,
            private,
            last_modified,
            trending_score,
            card_data,
        )
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
            repo.files[path] = RepoFile.read(path, Path(source))

    def remove(self, repo_id: str, *, kind: str = "model") -> None:
        self.repos.pop((kind, repo_id), None)

    # ---- uploads (fakehub_upload.py parses the requests) ---------------------------
    def create_repo(self, repo_id: str, *, kind: str = "model", private: bool = False) -> Repo:
        """An empty repo, as POST /api/repos/create makes it."""
        return self._add(kind, repo_id, None, 0, 0, (), False, private, None, None, None)

    def commit(self, repo: Repo, added: dict[str, bytes], deleted: list[tuple[str, bool]]) -> str:
        """Apply one commit (deletions first, then additions) and return its new sha.

        Content is stored under the hub's own folder, named by its sha256 and the file's suffix
        (the suffix decides LFS-ness as for served folders), so a repo registered from a test's
        folder is never written into."""
        with self._lock:
            if self._storage is None:
                self._storage = Path(tempfile.mkdtemp(prefix="fakehub-blobs-"))
            files = dict(repo.files)
            for path, folder in deleted:
                for name in [
                    p for p in files if p == path or (folder and p.startswith(path + "/"))
                ]:
                    del files[name]
            for path, data in added.items():
                blob = self._storage / (hashlib.sha256(data).hexdigest() + Path(path).suffix)
                if not blob.exists():
                    blob.write_bytes(data)
                files[path] = RepoFile.read(path, blob)
            repo.files = files
            repo.sha = hashlib.sha1(f"{repo.sha}:{sorted(added)}:{deleted}".encode()).hexdigest()
            repo.meta["lastModified"] = iso(None)
            if "README.md" in added:
                repo.meta["cardData"].update(front_matter(files["README.md"]))
            if repo.kind == "model" and "config.json" in added:
                with contextlib.suppress(ValueError, AttributeError):
                    cfg = json.loads(added["config.json"])
                    repo.config = {k: cfg[k] for k in ("architectures", "model_type") if k in cfg}
            return repo.sha

    def _add(
        self,
        kind,
        repo_id,
        folder,
        downloads,
        likes,
        tags,
        gated,
        private,
        last_modified,
        trending_score,
        card_data,
    ) -> Repo:
        folder = Path(folder) if folder is not None else None
        if folder is None:
            sources = []
        elif folder.is_file():
            sources = [folder]
        else:
            sources = sorted(p for p in folder.rglob("*") if p.is_file())
        files = {}
        for src in sources:
            rel = src.name if src == folder else src.relative_to(folder).as_posix()
            files[rel] = RepoFile.read(rel, src)
        card = dict(card_data or {})
        card.update(front_matter(files.get("README.md")))
        tags = list(tags)
        for tag in tags:
            if tag.startswith("license:"):
                card.setdefault("license", tag.split(":", 1)[1])
        if "license" in card and f"license:{card['license']}" not in tags:
            tags.append(f"license:{card['license']}")
        modified = iso(last_modified)
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
        repo = Repo(kind, repo_id, files, meta, private=private, gated=gated, sha=sha)
        self.repos[(kind, repo_id)] = repo
        return repo
