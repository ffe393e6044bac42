"""Images a run cannot use (truncated, not an image, decompression bombs) are skipped, counted
and named, instead of crashing the dataset card or the run at the first bad file.

Each image of a local folder is opened and decoded once here, as training would; the size is
checked from the header first, so a bomb (a few KB that decode to gigabytes) is refused before
any pixel is decoded. The limit is FINETUNE_MAX_IMAGE_PIXELS (default: Pillow's, 89.5 M).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

from finetune_core.errors import ConfigError

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default limit (about 0.25 GB of RGBA)
NAMED = 5  # files named in a warning; the rest are counted


def max_pixels() -> int:
    raw = os.environ.get("FINETUNE_MAX_IMAGE_PIXELS", "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"FINETUNE_MAX_IMAGE_PIXELS must be a positive whole number of pixels, not {raw!r}."
        )
    return value


_CHECKED: dict[tuple, str | None] = {}  # (path, mtime, size, limit) -> problem: each file is
# decoded once per process, not once per card, preflight and run (a folder is read 3 times)


def problem(item: Any) -> str | None:
    """Why an image (a path, bytes, or datasets' {"path", "bytes"}) cannot be used, or None."""
    if isinstance(item, dict):
        item = item.get("bytes") or item.get("path")
    if item is None:
        return "no image"
    if isinstance(item, bytes):
        return _decode_problem(item)
    try:
        stat = os.stat(item)
    except OSError:
        return "missing"
    key = (str(item), stat.st_mtime_ns, stat.st_size, max_pixels())
    if key not in _CHECKED:
        if len(_CHECKED) > 200_000:
            _CHECKED.clear()
        _CHECKED[key] = _decode_problem(item)
    return _CHECKED[key]


def _decode_problem(item: str | bytes) -> str | None:
    from PIL import Image

    source = io.BytesIO(item) if isinstance(item, bytes) else item
    limit = max_pixels()
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > limit:
                return f"too large: {width * height:,} pixels, over FINETUNE_MAX_IMAGE_PIXELS"
            image.load()
    except Image.DecompressionBombError as exc:  # Pillow's own limit, met before ours
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found.group(1)):,} pixels, " if found else ""
        return f"too large: {pixels}over FINETUNE_MAX_IMAGE_PIXELS"
    except Image.UnidentifiedImageError:
        return "not an image"
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc).lower()
        return "truncated" if "truncat" in text else "cannot be decoded"
    return None


def drop_unusable(ds) -> tuple[Any, list[str]]:
    """The DatasetDict without unusable images, and one warning naming what was skipped."""
    import datasets

    skipped: list[str] = []
    splits = {}
    for name, split in ds.items():
        columns = [c for c, f in split.features.items() if isinstance(f, datasets.Image)]
        keep = list(range(len(split)))
        for column in columns:
            values = split.data.column(column).to_pylist()  # raw {"bytes", "path"}: no decoding
            bad = set()
            for i in keep:
                reason = problem(values[i])
                if reason:
                    bad.add(i)
                    skipped.append(f"{_name(values[i], i)} ({reason})")
            keep = [i for i in keep if i not in bad]
        splits[name] = split.select(keep) if len(keep) < len(split) else split
    return datasets.DatasetDict(splits), ([warning(skipped)] if skipped else [])


def _name(item: Any, index: int) -> str:
    path = item.get("path") if isinstance(item, dict) else None
    return Path(path).name if path else f"row {index + 1}"


def warning(skipped: list[str]) -> str:
    named = ", ".join(skipped[:NAMED])
    more = f" and {len(skipped) - NAMED} more" if len(skipped) > NAMED else ""
    return (
        f"Skipped {len(skipped)} image(s) that cannot be used: {named}{more}; fix or remove "
        "those files."
    )
