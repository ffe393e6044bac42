"""What an attack on the hosted server did, measured from inside its process (the test server
runs in the test process): the peak memory it added (sampled), every file it opened under the
watched folders (a Python audit hook: PIL, json and the datasets library open files through
Python), what it wrote there, and how many requests reached a listening decoy server."""

from __future__ import annotations

import http.server
import os
import sys
import threading
import time
from pathlib import Path

import hostile
import psutil

MEMORY_BOUND_MB = 400  # the most one hostile input may add to the server's memory
_WATCHES: list[tuple[tuple[str, ...], list[str]]] = []


def _audit(event: str, args: tuple) -> None:
    if event != "open" or not _WATCHES:
        return
    try:
        path = os.fsdecode(args[0]) if isinstance(args[0], str | bytes | os.PathLike) else ""
    except Exception:
        return
    for roots, seen in list(_WATCHES):
        if path.startswith(roots):
            seen.append(path)


sys.addaudithook(_audit)  # once per process; inert while no Watch is open


class Watch:
    """`with Watch(root, ...) as w:` around one attack; then w.peak_mb, w.opened, w.written."""

    def __init__(self, *roots: Path) -> None:
        self.roots = [Path(r) for r in roots]
        self.opened: list[str] = []
        self.written: set[str] = set()
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> Watch:
        self._before = hostile.snapshot(*self.roots)
        process = psutil.Process()
        self._base = process.memory_info().rss
        self._peak = self._base
        self._thread = threading.Thread(target=self._sample, args=(process,), daemon=True)
        self._thread.start()
        resolved = tuple(str(r.resolve()) for r in self.roots) + tuple(map(str, self.roots))
        self._entry = (resolved, self.opened)
        _WATCHES.append(self._entry)
        return self

    def _sample(self, process) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, process.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        _WATCHES.remove(self._entry)
        self._stop.set()
        self._thread.join()
        self.peak_mb = (self._peak - self._base) / 2**20
        self.written = hostile.snapshot(*self.roots) - self._before


class Decoy:
    """A loopback HTTP server that counts the requests it gets (an image URL must get none)."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(hostile.png_bytes())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
