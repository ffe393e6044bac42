"""Where a file's predictions go: JSON Lines (the default) or CSV/TSV, chosen by the output
name, written as they come into a temporary file beside the output and renamed into place at
the end, so a failure part way never leaves half a predictions file (or clobbers a good one).

A record is {"prediction": label or [labels], "scores": {label: probability}}, with "file"
first for an image folder. CSV/TSV: the columns `file` (folders), `prediction` (multi-label:
the names joined by the first of `|`, `;`, `,` that no label contains) and `score_<label>`.
Scores keep 6 significant digits: a million rows of 28 labels stay a few hundred MB.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from finetune_core.errors import DataError

JSONL_SUFFIXES = ("", ".jsonl", ".json", ".ndjson")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JOINERS = ("|", ";", ",")


def check_output(output: str | Path | IO[str], source: Path) -> None:
    """Refuse, before any work, an output name of another format or one that is the input."""
    if not isinstance(output, str | os.PathLike):
        return
    path = Path(output).expanduser()
    suffix = path.suffix.lower()
    if suffix not in JSONL_SUFFIXES and suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"Predictions are written as JSON Lines (.jsonl) or CSV (.csv); name the output "
            f"file with one of those endings, not {path.name}."
        )
    if path.is_dir():
        raise DataError(
            f"Output {path} is a folder; name a file, e.g. {path / 'predictions.jsonl'}."
        )
    if path.resolve() == source.expanduser().resolve():
        raise DataError(f"Output {path.name} is the input file; name another output file.")


class Writer:
    """Records out, in order; `commit` renames the finished file into place."""

    def __init__(self, output: str | Path | IO[str], labels: tuple[str, ...], *, files: bool):
        self.labels, self.files = labels, files
        self.stream: IO[str]
        self.tmp: Path | None = None
        self.path: Path | None = None
        if isinstance(output, str | os.PathLike):
            self.path = Path(output).expanduser()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(
                    prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
                )
            except OSError as exc:
                raise DataError(
                    f"Output {self.path} cannot be written ({exc.strerror or exc}); choose "
                    "a folder you can write to."
                ) from None
            self.tmp = Path(name)
            self.stream = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
            suffix = self.path.suffix.lower()
        else:
            self.stream, suffix = output, ""
        self.delimiter = TABLE_SUFFIXES.get(suffix)
        self.table = None
        if self.delimiter:
            self.joiner = next((j for j in JOINERS if not any(j in n for n in labels)), "|")
            self.table = csv.writer(self.stream, delimiter=self.delimiter, lineterminator="\n")
            self.table.writerow(
                (["file"] if files else []) + ["prediction"] + [f"score_{n}" for n in labels]
            )

    def write(self, prediction: Any, scores: dict[str, float], file: str | None = None) -> None:
        scores = {k: float(f"{v:.6g}") for k, v in scores.items()}
        if self.table is not None:
            shown = self.joiner.join(prediction) if isinstance(prediction, list) else prediction
            head = [file] if self.files else []
            self.table.writerow(head + [shown] + [scores.get(n, "") for n in self.labels])
            return
        record: dict[str, Any] = {"file": file} if self.files else {}
        record.update(prediction=prediction, scores=scores)
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        self.stream.flush()
        if self.tmp is None or self.path is None:
            return
        self.stream.close()
        os.chmod(self.tmp, 0o644)  # mkstemp makes it private; an output file is the user's
        os.replace(self.tmp, self.path)
        self.tmp = None

    def discard(self) -> None:
        """After a failure: the temporary file goes; an existing output stays as it was."""
        if self.tmp is not None:
            self.stream.close()
            self.tmp.unlink(missing_ok=True)
            self.tmp = None
