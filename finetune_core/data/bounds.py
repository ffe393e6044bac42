"""Bounds on a data file checked before any parser sees it, so no input can take the process
down or hold it for long, hosted or not.

- Nesting: Arrow's JSON reader recurses once per level; a 120 kB file nested 20,000 levels
  deep overflows its stack and the whole server dies (a segfault, nothing to catch), 5,000
  levels end in a RecursionError in Python. Every JSON file is scanned first by
  jsonfiles.json_depth, linear and never recursing; deeper than MAX_DEPTH is refused.
  Parquet's own reader stops at 100 levels with an error (load.py words it); CSV has no
  nesting.
- Columns: more than MAX_COLUMNS is refused, from the CSV header line or the Parquet footer
  before loading, and from the loaded features otherwise; detection is linear (detect.py).
- Classes: hosted, at most FINETUNE_MAX_CLASSES (host/limits.py).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import unquote

from finetune_core.errors import DataError
from finetune_core.host import limits
from finetune_core.jsonfiles import json_depth

MAX_DEPTH = 64  # real records nest a handful of levels; Python code recursing on them is safe
MAX_COLUMNS = 1_000  # a classification dataset uses two or three; detection reads each once
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def is_json(name: str) -> bool:
    """A JSON data file, compressed or not (`train.jsonl.gz`)."""
    suffixes = [s.lower() for s in Path(name.split("::")[-1]).suffixes]
    return any(s in JSON_SUFFIXES for s in suffixes)


def check_json(path: str | Path, name: str | None = None) -> None:
    """Refuse a JSON file nested deeper than MAX_DEPTH before a parser sees it."""
    try:
        depth = json_depth(path)
    except (OSError, EOFError, ValueError) as exc:  # unreadable or a broken archive
        raise DataError(f"{name or Path(path).name} could not be read ({exc}).") from None
    if depth > MAX_DEPTH:
        raise DataError(
            f"{name or Path(path).name} nests its values more than {MAX_DEPTH} levels deep; "
            "this dashboard reads flat records (one object per row with plain values or short "
            "lists), so flatten it."
        )


def check_columns(count: int, name: str) -> None:
    if count > MAX_COLUMNS:
        raise DataError(
            f"{name} has {count:,} columns, over the limit of {MAX_COLUMNS:,}; keep the text or "
            "image column and the label column (and few others) and try again."
        )


def check_file(path: Path, delimiter: str = ",") -> None:
    """The bounds of one local data file, read from its first bytes or its footer."""
    suffix = path.suffix.lower()
    if is_json(path.name):
        check_json(path)
    elif suffix in (".csv", ".tsv"):
        check_columns(_header_cells(path, delimiter), path.name)
    elif suffix == ".parquet":
        check_columns(_parquet_columns(path), path.name)


def _header_cells(path: Path, delimiter: str) -> int:
    """Cells in the first line (read at most 4 MB of it: a wider header is over the cap)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline(4 * 2**20)
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    return len(row)


def _parquet_columns(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_columns  # the footer only
    except Exception:  # not Parquet, or too deeply nested: the load says which, in words
        return 0


def check_features(features, name: str) -> None:
    """After loading (JSON, folders, the Hub): the column count."""
    check_columns(len(features), name)


def check_classes(count: int, column: str | None) -> None:
    """Hosted (or with FINETUNE_MAX_CLASSES set): refuse more classes than the host allows."""
    cap = limits.max_classes()
    if cap and count > cap:
        raise DataError(
            f"Label column '{column}' has {count:,} classes, over the {cap:,} this dashboard "
            "trains (FINETUNE_MAX_CLASSES); merge rare classes or train on a subset."
        )


ARCHIVES = (".zip", ".tar", ".tgz", ".tar.gz", ".7z", ".rar")


def check_files(source: str, data_files, token=None, delimiter: str = ",") -> None:
    """Every file the datasets library is about to parse (its builder's resolved data files):
    local ones checked in place, a Hub repo's JSON files downloaded first (into the cache the
    library reads them from, so nothing is fetched twice) and scanned."""
    for files in (data_files or {}).values():
        for name in files or ():
            text = str(name)
            if "://" not in text:
                check_file(Path(text), delimiter)
            elif is_json(text):
                check_json(_hub_copy(source, text, token), _short(text))
            elif text.lower().endswith(ARCHIVES) and "json" in str(data_files).lower():
                raise DataError(
                    f"{_short(text)} is an archive of JSON files, which cannot be checked before "
                    "reading; publish the files themselves (plain or .gz)."
                )


def _short(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1][:80] or "?"


def _hub_copy(source: str, url: str, token) -> str:
    """The local copy of hf://datasets/<repo>@<revision>/<path> (downloaded if needed)."""
    from huggingface_hub import hf_hub_download

    from finetune_core.hub.net import endpoint

    url = url.split("::")[-1]
    repo = (
        source
        if url.startswith((f"hf://datasets/{source}@", f"hf://datasets/{source}/"))
        else ("/".join(url.removeprefix("hf://datasets/").split("/")[:2]).split("@")[0])
    )
    rest = url.removeprefix(f"hf://datasets/{repo}")
    revision = None
    if rest.startswith("@"):
        revision, _, rest = rest[1:].partition("/")
        revision = unquote(revision)
    filename = rest.lstrip("/")
    return hf_hub_download(
        repo,
        filename,
        repo_type="dataset",
        revision=revision,
        token=token,
        endpoint=endpoint(),
    )


def class_warnings(count: int, column: str | None) -> list[str]:
    """The class-cap sentence for a dataset card (a run with this data would be refused)."""
    try:
        check_classes(count, column)
    except DataError as exc:
        return [str(exc)]
    return []
