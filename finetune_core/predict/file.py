"""Predict a whole file: `finetune predict RUN_DIR --input FILE [--output FILE]` and the
Results step's upload.

The input is a CSV/TSV/JSON/JSONL/Parquet file, read as training reads data (data/load.py:
the same parser, delimiter detection and sentences), with the run's text or image column; or,
for an image model, a folder of images (every file under it, in sorted path order; hidden
files and an image folder's metadata.jsonl/csv/parquet are not inputs). Every row is checked
before the model runs, so bad input costs seconds, not the whole file. Then rows are read,
predicted and written CHUNK at a time (texts length-sorted within the chunk), so memory stays
bounded however long the file is, and the output (predict/output.py) is renamed into place
only when every row is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from finetune_core.errors import DataError, RunError
from finetune_core.predict import NO_MODEL, classify, is_image_model, thresholds
from finetune_core.predict.output import Writer, check_output
from finetune_core.runs import RunDir

CHUNK = 1024  # rows read, sorted by length and written together (a few MB of scores)
NOT_INPUTS = {"metadata.jsonl", "metadata.csv", "metadata.parquet"}  # image folder metadata
Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass(frozen=True)
class FileResult:
    rows: int
    output: str
    seconds: float

    def summary(self) -> str:
        return f"Predicted {self.rows:,} rows in {self.seconds:.1f} s: {self.output}."


def predict_file(
    run_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path | IO[str],
    progress: Progress | None = None,
    *,
    chunk: int = CHUNK,
    batch_size: int = 32,
) -> FileResult:
    """Predict every row of `input_path` with the run's model into `output_path` (a file name,
    or an open text stream such as stdout: JSON Lines)."""
    from finetune_core.host import paths

    start = time.monotonic()
    run = RunDir(run_dir)
    if not run.has_model():
        raise RunError(NO_MODEL)
    rule = thresholds(run.path)  # a malformed label_thresholds is refused before any work
    image = is_image_model(run.model_dir)
    source = Path(input_path).expanduser()
    paths.check_source(str(input_path))  # hosted: an upload, the assets or an allowed folder
    if not source.exists():
        raise DataError(f"Input {input_path} does not exist; check the path.")
    check_output(output_path, source)
    if source.is_dir():
        if not image:
            raise DataError(
                f"{source.name} is a folder; this text model reads a .csv, .tsv, .json, "
                ".jsonl or .parquet file."
            )
        files = image_files(source)
        total, chunks = len(files), _image_chunks(source, files, batch_size)
    else:
        column = _column(run, image)
        table = _table(source, column, image)
        size = batch_size if image else chunk  # decoded images are large: a batch at a time
        total, chunks = len(table), _table_chunks(table, column, size)
    writer = Writer(output_path, rule.labels, files=source.is_dir())
    done = 0
    try:
        if progress:
            progress(0, total)
        for names, items in chunks:
            predictions = classify(run.path, items, batch_size=batch_size, rule=rule)
            for i, p in enumerate(predictions):
                writer.write(p.prediction, p.scores, names[i] if names else None)
            done += len(items)
            if progress:
                progress(done, total)
        writer.commit()
    finally:
        writer.discard()
    shown = str(output_path) if isinstance(output_path, str | Path) else "standard output"
    return FileResult(done, shown, time.monotonic() - start)


def _column(run: RunDir, image: bool) -> str:
    key = "image_column" if image else "text_column"
    column = (run.read_config() or {}).get(key)
    if not column:
        raise RunError(f"Run {run.path.name} names no {key}; it cannot read a file.")
    return str(column)


# ---- tables -------------------------------------------------------------------------
def _table(source: Path, column: str, image: bool):
    """The file as a memory-mapped table, its column checked in every row."""
    from finetune_core.data import load

    with source.open("rb") as f:
        head = f.read(4096)
    if not head.strip() and source.stat().st_size <= len(head):
        raise DataError(f"{source.name} is empty; give a file with rows to predict.")
    try:
        table = load.load_checked(str(source)).ds["train"]
    except DataError as exc:
        if "is empty (no rows)" not in str(exc):  # data/load.py's words for a header only
            raise
        table = None
    if table is None or len(table) == 0:
        raise DataError(f"{source.name} has no rows; give a file with rows to predict.")
    if column not in table.column_names:
        kind = "image" if image else "text"
        raise DataError(
            f"{source.name} has no column '{column}' (the run's {kind} column); its columns "
            f"are {', '.join(table.column_names)}: rename the column in the file."
        )
    if image:
        import datasets

        if not isinstance(table.features[column], datasets.Image):
            raise DataError(
                f"Column '{column}' of {source.name} holds {table.features[column]} values, not "
                "images; give a folder of images, or a Parquet file with an image column."
            )
        _check_images(table, column, source.name)
        return table
    row = 0
    for batch in table.select_columns([column]).iter(batch_size=10_000):
        for value in batch[column]:
            row += 1
            _check_text(value, row, column, source.name)
    return table


def _check_text(value: Any, row: int, column: str, name: str) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(
            f"Row {row} of {name} has no text in column '{column}'; fill it in or drop the row."
        )
    if not isinstance(value, str):
        raise DataError(
            f"Row {row} of {name} holds {type(value).__name__} {value!r:.40} in column "
            f"'{column}', not text; every cell of the text column must be text."
        )


def _check_images(table, column: str, name: str) -> None:
    """Every image decodable and within the size limit (as training checks them); hosted, an
    image a row names by path must lie where a visitor may read."""
    import datasets

    from finetune_core.data import images
    from finetune_core.host import paths

    raw = table.select_columns([column]).cast_column(column, datasets.Image(decode=False))
    row = 0
    for batch in raw.iter(batch_size=256):
        for value in batch[column]:
            row += 1
            path = (value or {}).get("path")
            if value and not value.get("bytes") and path and paths.refusal(str(path)):
                raise DataError(
                    f"Row {row} of {name} names an image file this dashboard may "
                    "not read; put the image itself in the file."
                )
            reason = images.problem(value)
            if reason:
                raise DataError(
                    f"Row {row} of {name}: the image in column '{column}' cannot be used "
                    f"({reason}); fix or drop the row."
                )


def _table_chunks(table, column: str, chunk: int) -> Iterator[tuple[None, list[Any]]]:
    for batch in table.select_columns([column]).iter(batch_size=chunk):
        yield None, list(batch[column])


# ---- image folders --------------------------------------------------------------------
def image_files(folder: Path) -> list[str]:
    """The images under `folder` (relative POSIX paths, sorted), each checked as training
    checks images (data/images.py: decodable, not a decompression bomb)."""
    from finetune_core.data import images
    from finetune_core.host import paths

    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file()
        and p.name not in NOT_INPUTS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise DataError(f"Folder {folder.name} holds no files; put the images to predict in it.")
    for name in files:
        paths.check_source(str(folder / name))  # hosted: a link may not lead outside
        reason = images.problem(str(folder / name))
        if reason:
            raise DataError(
                f"{name} in {folder.name} cannot be used ({reason}); remove it or replace it "
                "with an image."
            )
    return files


def _image_chunks(
    folder: Path, files: list[str], chunk: int
) -> Iterator[tuple[list[str], list[Any]]]:
    from PIL import Image

    for start in range(0, len(files), chunk):
        names = files[start : start + chunk]
        loaded = []
        for name in names:
            try:
                with Image.open(folder / name) as im:
                    loaded.append(im.convert("RGB"))
            except (OSError, ValueError) as exc:  # changed since it was checked
                raise DataError(f"{name} in {folder.name} cannot be read ({exc}).") from None
        yield names, loaded
