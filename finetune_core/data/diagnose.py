"""Sentences for data that loads wrongly or not at all, naming the file, line or column:
a JSON Lines line that is not JSON, files of one folder with different columns, a
tab-separated file whose rows and lines disagree (labels.py speaks about class names)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from finetune_core.errors import DataError


def check_hub_id(source: str) -> None:
    """`csv`, `json`, `imagefolder`...: datasets' file-format loaders, which without data files
    read whatever lies in the server's working folder; never a dataset a person means."""
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    if source.lower() in _PACKAGED_DATASETS_MODULES:
        raise DataError(
            f"'{source}' is a file format, not a dataset; upload a file or give a Hub dataset "
            "id (owner/name)."
        )


def check_hub_dataset(source: str, token: str | None) -> str | bool | None:
    """Before a Hub dataset is loaded (training, inspect): not a file format; hosted, the
    visitor may fetch it (never the host's cache); its README is safe to parse. Returns the
    token to send (hub/net.py's rule)."""
    from finetune_core.hub.net import check_hosted_access, resolve_token

    check_hub_id(source)
    check_hosted_access("dataset", source, token)
    sent = resolve_token(token)
    check_hub_readme(source, None, sent)
    return sent


def check_hub_readme(repo_id: str, revision: str | None, token) -> None:
    """A Hub dataset's README front matter, checked as an uploaded one is (no aliases,
    bounded) before `datasets` parses it with a plain YAML loader: on the dataset card's path
    and on the training path alike (a run may load a repo whose README changed since its card
    was shown). A repo without a README has nothing to check."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from finetune_core.hub.net import endpoint

    try:
        path = hf_hub_download(
            repo_id,
            "README.md",
            repo_type="dataset",
            revision=revision,
            token=token,
            endpoint=endpoint(),
        )
    except EntryNotFoundError:
        return
    check_readme(Path(path).parent, name=repo_id)


def check_rows(path: Path, split) -> None:
    """The rows read from one data file against the file itself (TSV lines, JSON shape)."""
    if path.suffix.lower() == ".tsv":
        check_tsv_rows(path, len(split))
    if path.suffix.lower() == ".json":
        check_json_rows(path, split)


def check_tsv_rows(path: Path, rows: int) -> None:
    """Every non-empty line after the header is one row; say so when they differ."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = sum(1 for line in f if line.strip()) - 1
    if lines != rows:
        raise DataError(
            f"{path.name} has {lines} data lines but {rows} rows were read; check it for "
            "blank cells or stray tab characters."
        )


SCAN_BYTES = 50 * 2**20  # a swallowed line is looked for in the first 50 MB only


def check_readme(folder: Path, name: str | None = None) -> None:
    """A dataset folder's README front matter is parsed by `datasets` with a plain YAML
    loader: refuse first what would expand to gigabytes (aliases) or is too big."""
    from finetune_core.config import parse_text
    from finetune_core.errors import FinetuneError

    readme = folder / "README.md"
    if not readme.is_file():
        return
    with open(readme, encoding="utf-8", errors="replace") as f:
        text = f.read(2_000_001)
    if not text.startswith("---"):
        return
    front = text.split("---", 2)[1] if text.count("---") >= 2 else text[3:]
    try:
        parse_text(front, f"{name or folder.name}/README.md")
    except FinetuneError as exc:
        raise DataError(str(exc)) from None


def delimiter(path: Path) -> str:
    """The cell separator of a delimited text file: a tab for .tsv; for .csv a comma unless
    the first line has none but has `;`, a tab or `|` (Excel writes `;` in many locales, and
    a comma would read the whole line as one column)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return ","
    if "," in first:
        return ","
    counts = {sep: first.count(sep) for sep in (";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def file_warnings(source: str, ds) -> list[str]:
    """Warnings about a local data file that loaded: a first line that is data, not column
    names (its row would be lost), and rows that an unbalanced quote may have swallowed."""
    path = Path(source).expanduser()
    if not (path.is_file() and path.suffix.lower() in (".csv", ".tsv") and "train" in ds):
        return []
    warnings = headerless(path)
    if path.suffix.lower() == ".csv":
        warnings += swallowed_lines(path, len(ds["train"]))
    return warnings


def headerless(path: Path) -> list[str]:
    """Column names are a word or three; a first line with a cell of five or more words is a
    row of data (the SMS Spam Collection ships that way)."""
    wordy = [cell for cell in _header(path) or [] if len(cell.split()) >= 5]
    if not wordy:
        return []
    shown = wordy[0] if len(wordy[0]) <= 40 else wordy[0][:40] + "..."
    return [
        f"{path.name} line 1 looks like data, not column names ({shown!r}): it is read as "
        "the column names, so that row is lost; add a first line with the names, such as "
        "label and text."
    ]


def swallowed_lines(path: Path, rows: int) -> list[str]:
    """A warning when a CSV's rows came from fewer lines than it has and one quoted cell holds
    whole lines that look like rows: an unbalanced `"` that swallowed them (quoted cells may
    span lines on purpose, so this warns rather than refuses)."""
    with open(path, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(2**20), b""))
    if rows + 1 >= lines or path.stat().st_size > SCAN_BYTES:
        return []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter(path))
        header = next(reader, [])
        start = reader.line_num + 1
        for row in reader:
            for cell in row:
                inner = cell.split("\n")[1:]
                if any(line.count(",") >= len(header) - 1 > 0 for line in inner):
                    return [
                        f"{path.name} line {start}: a quote opens a cell that runs over "
                        f"{reader.line_num - start + 1} lines, so {lines - 1 - rows} line(s) "
                        "became part of it; if the quote belongs to the text, double it "
                        '("") or save the file as .tsv.'
                    ]
            start = reader.line_num + 1
    return []


def check_json_rows(path: Path, split) -> None:
    """A .json file that is one object reads as one row: say how to write rows instead."""
    if len(split) != 1:
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        if f.read(64).lstrip()[:1] != "{":
            return
    names = split.column_names
    under = f" under the key '{names[0]}'" if len(names) == 1 else ""
    raise DataError(
        f"{path.name} is one JSON object{under}, so it reads as a single row; save the rows as "
        "a JSON list ([{...}, {...}]) or as JSON Lines (one object per line)."
    )


def local_problem(source: str) -> str | None:
    """A sentence naming the file and line for a local load that failed, when one is found:
    a JSON Lines line that is not JSON, files of one folder with different columns."""
    from finetune_core.data.load import DATA_SUFFIXES

    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in DATA_SUFFIXES)
    else:
        files = [path]
    for file in files:
        if file.suffix.lower() in (".jsonl", ".json"):
            line = _bad_json_line(file)
            if line:
                return (
                    f"{file.name} line {line} is not a JSON object; fix or remove that line "
                    "(JSON Lines: one object per line)."
                )
    headers = {f: _header(f) for f in files}
    known = [(f, h) for f, h in headers.items() if h is not None]
    for f, h in known[1:]:
        if h != known[0][1]:
            return (
                f"{known[0][0].name} and {f.name} have different columns "
                f"({', '.join(known[0][1])} vs {', '.join(h)}); give every file of the "
                "dataset the same columns."
            )
    return None


def _bad_json_line(file: Path) -> int | None:
    with open(file, encoding="utf-8", errors="replace") as f:
        first = f.read(1)
        if first in ("[", "{") and file.suffix.lower() == ".json":
            return None  # one JSON document, not JSON Lines
        f.seek(0)
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    return number
            except ValueError:
                return number
    return None


def _header(file: Path) -> list[str] | None:
    """Column names from the first line of a CSV/TSV, or the first JSON Lines object."""
    try:
        with open(file, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return None
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return next(csv.reader([first], delimiter=delimiter(file)), None)
    if suffix == ".jsonl":
        try:
            row = json.loads(first)
        except ValueError:
            return None
        return sorted(row) if isinstance(row, dict) else None
    return None
