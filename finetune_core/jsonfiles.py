"""JSON files that survive a crash: atomic writes (a reader never sees half a file), JSON
lines read with a torn or corrupt line skipped, and an incremental reader of a growing
JSON-lines file. runs/ builds the run directory on these; it alone spells the file names.
Also how deep an untrusted JSON file nests, measured without parsing it (`json_depth`).
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any


def json_default(value: Any) -> Any:
    """numpy/torch scalars as numbers, anything else json cannot write as its str."""
    return value.item() if hasattr(value, "item") else str(value)


def finite(record: dict) -> dict:
    """JSON has no NaN: non-finite floats are written as strings ("nan", "inf")."""
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    return {**record, **{k: str(record[k]) for k in bad}}


def dump_line(record: dict) -> str:
    """One JSON line (no newline) for a metrics record."""
    return json.dumps(finite(record), default=json_default)


def write_atomic(path: Path, data: dict) -> None:
    """Write a JSON object so that a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(finite(data), indent=2, default=json_default) + "\n")
    os.replace(tmp, path)


def read_json(path: str | Path) -> dict | None:
    """A JSON object from a file; None when it is missing, unreadable, torn or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def parse_lines(text: str) -> list[dict]:
    """Parse complete JSON lines; a torn or corrupt line (a crash mid-write) is skipped."""
    out = []
    for line in filter(None, map(str.strip, text.splitlines())):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


class LinesTail:
    """Incremental reader of a JSON-lines file: each `read()` parses only what was appended
    since the last one.

    One reader is shared by every poll of a run (many tabs, server threads at once), so reads
    are serialized: two threads reading the same new chunk would otherwise both append it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = 0
        self.records: list[dict] = []
        self._lock = threading.Lock()

    def read(self) -> list[dict]:
        """The records so far (a snapshot: later reads do not change it)."""
        with self._lock:
            self._read_new()
            return list(self.records)

    def _read_new(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.offset:  # rewritten (resume truncation): start over
            self.offset, self.records = 0, []
        if size == self.offset:
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n") + 1  # only complete lines; a partial one waits
        self.offset += end
        self.records.extend(parse_lines(chunk[:end].decode("utf-8", errors="replace")))


# ---- untrusted JSON: depth before parsing ------------------------------------------------
CHUNK = 16 * 2**20  # bytes scanned at a time
_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)


def json_depth(path: str | Path, limit: int = 64) -> int:
    """How deep a JSON (or JSON Lines) file's brackets nest, outside strings, found without
    parsing it: parsers recurse once per level (Arrow's overflows its stack at 20,000, Python's
    raises at 1,000), this scan never does. Linear: bytes.replace/translate and numpy over
    chunks cut at a newline (no JSON string spans one); compressed names (.gz, .bz2, .xz,
    .zst) are read decompressed, as the datasets library reads them. Stops reading once the
    depth found is past `limit`."""
    import numpy as np

    deepest = depth = 0
    rest = b""
    with _open(path) as f:
        while True:
            block = f.read(CHUNK)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            data, rest = data[:cut], data[cut:]
            if data:
                steps = _steps(data, np)
                if len(steps):
                    levels = depth + np.cumsum(steps)
                    deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
            if deepest > limit or not block:
                return deepest


def _steps(data: bytes, np):
    """+1 per opening bracket, -1 per closing one, outside strings. Escaped backslashes go
    first (left to right, as JSON reads them), then escaped quotes; of what is left, only
    quotes and brackets are kept, and every other piece between quotes is a string."""
    reduced = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _DROP)
    outside = b"".join(reduced.split(b'"')[::2])
    codes = np.frombuffer(outside, dtype=np.uint8)
    return np.where((codes == 91) | (codes == 123), 1, -1).astype(np.int64)


def _open(path: str | Path):
    """The file's bytes, decompressed when its name says so (as the datasets library reads it)."""
    import fsspec

    return fsspec.open(str(path), "rb", compression="infer")  # closes both layers on exit
