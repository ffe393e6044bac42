"""Files a dataset's rows name: an Image value is bytes in the data, or a `path` the server would
open. A Parquet file can declare an Image column whose rows hold `{"bytes": null, "path":
"/any/server/file"}`, and the datasets library would open that file for the card, its
thumbnails and the run (or fetch an http:// path). So every path-only value is checked by the
path policy (host/paths.media_refusal) before anything decodes a row, and the whole dataset is
refused with one sentence at the first bad one. Other decodable features (audio, video, PDF,
...) are never used here: they are read as their raw values, so none of them opens a file.
"""

from __future__ import annotations

from typing import Any

from finetune_core.errors import DataError
from finetune_core.host import paths

ADVICE = "images must be stored in the data (bytes) or be files of the dataset itself"


def _image_type():
    import datasets

    return datasets.Image


def is_image(feature: Any) -> bool:
    return isinstance(feature, _image_type())


def inert(feature: Any) -> Any:
    """`feature` with decoding switched off in every decodable part but a top-level Image."""
    if isinstance(feature, dict):
        return {k: inert(v) for k, v in feature.items()}
    if isinstance(feature, list | tuple):
        return [inert(f) for f in feature]
    inner = getattr(feature, "feature", None)
    if inner is not None and hasattr(feature, "__dataclass_fields__"):  # List, LargeList
        import dataclasses

        return dataclasses.replace(feature, feature=inert(inner))
    if hasattr(feature, "decode_example") and getattr(feature, "decode", False):
        import dataclasses

        return dataclasses.replace(feature, decode=False)
    return feature


def _needs_inert(feature: Any) -> bool:
    from datasets.features.features import require_decoding

    return not is_image(feature) and require_decoding(feature)


def guard(ds, source: str):
    """The DatasetDict with its rows' file references checked (DataError at the first one the
    policy refuses) and every decodable feature but top-level images read raw."""
    import datasets

    home = paths.media_home(source)
    splits = {}
    for name, split in ds.items():
        for column, feature in split.features.items():
            if _needs_inert(feature):
                split = split.cast_column(column, inert(feature))
            elif is_image(feature):
                _check_column(split, column, home)
        splits[name] = split
    return datasets.DatasetDict(splits)


def _check_column(split, column: str, home: paths.MediaHome) -> None:
    """Every row of an Image column whose bytes are missing: its path, by the policy. Read from
    Arrow chunk by chunk (no decoding, no copy of the image bytes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = split.select_columns([column]).with_format("arrow")[:]  # rows as selected, raw
    start = 0
    for chunk in table.column(column).chunks:
        if pa.types.is_struct(chunk.type):
            missing = pc.is_null(chunk.field("bytes"))
            if pc.any(missing).as_py():
                names = chunk.field("path")
                for row in pc.indices_nonzero(missing).to_pylist():
                    check_value(column, start + row, names[row].as_py(), home)
        start += len(chunk)


def check_value(column: str, row: int, path: Any, home: paths.MediaHome) -> None:
    """Raise the one sentence for a path-only value the policy refuses (row counts from 1)."""
    if path is None:
        return  # an empty cell: nothing to open (datasets says "no image" when decoding it)
    reason = paths.media_refusal(str(path), home)
    if reason:
        raise DataError(f"Image column '{column}' row {row + 1} {reason}; {ADVICE}.")


def check_rows(rows: list[dict[str, Any]], features, source: str) -> None:
    """The same check for rows read raw from a stream (the Hub card's sample)."""
    home = paths.media_home(source)
    columns = [c for c, f in features.items() if is_image(f)]
    for i, row in enumerate(rows):
        for column in columns:
            value = row.get(column)
            if isinstance(value, dict) and value.get("bytes") is None:
                check_value(column, i, value.get("path"), home)
            elif isinstance(value, str):
                check_value(column, i, value, home)
