"""Builders for hostile *input* (issue 20, the input side): Parquet files whose Image rows name
server paths, JSON nested thousands of levels deep, files with thousands of columns or
classes, labels written as markup, and model repos whose config, weights or tokenizer would
make the server build, load or hold too much. Shared by test_abuse_*.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hostile
import tiny


# ---- rows that name files --------------------------------------------------------------
def image_parquet(path: Path, named: str | None, *, rows: int = 8) -> Path:
    """A Parquet file whose schema declares an Image column: every row holds real PNG bytes,
    except row 2, which holds no bytes and names `named` instead (as an attacker writes it)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = hostile.png_bytes()
    images = [{"bytes": good, "path": None} for _ in range(rows)]
    if named is not None:
        images[1] = {"bytes": None, "path": named}
    labels = ["red" if i % 2 else "blue" for i in range(rows)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
    kind = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array(images, type=kind), "label": labels})
    meta = {b"huggingface": json.dumps({"info": {"features": features.to_dict()}}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


# ---- nesting, width, classes, markup ---------------------------------------------------
def deep_json(path: Path, levels: int) -> Path:
    """JSON Lines whose first record nests `levels` lists deep (a few bytes a level)."""
    deep = '{"text": "good movie", "label": "pos", "x": ' + "[" * levels + "]" * levels + "}"
    path.write_text(deep + '\n{"text": "bad movie", "label": "neg", "x": []}\n')
    return path


def wide_csv(path: Path, columns: int, rows: int = 4) -> Path:
    """A CSV of `columns` short string columns (2,000 of them: about 26 kB)."""
    header = ",".join(f"c{i}" for i in range(columns))
    lines = [header] + [",".join(f"w{r % 2}" for _ in range(columns)) for r in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def many_classes_csv(path: Path, classes: int, per_class: int = 2) -> Path:
    rows = [
        {"text": f"message {i} number {k}", "label": f"class{i}"}
        for i in range(classes)
        for k in range(per_class)
    ]
    return tiny.write_csv(path, rows)


MARKUP_LABELS = (
    '<a href="https://evil.example/x">click</a>',
    "<b>bold</b>",
    '<span style="color:red">red</span>',
    "see https://evil.example/y",
    "mail me@evil.example",
)


def markup_csv(path: Path, per_class: int = 4) -> Path:
    rows = [
        {"text": f"message {k} about {i}", "label": label}
        for i, label in enumerate(MARKUP_LABELS)
        for k in range(per_class)
    ]
    return tiny.write_csv(path, rows)


# ---- model repos -----------------------------------------------------------------------
def model_variant(src: Path, dest: Path, *, config: dict | None = None, weights: str = "") -> Path:
    """A copy of a tiny model folder with config.json keys changed (`config`) and, with
    weights="pickled", its safetensors replaced by a pickle-named file."""
    shutil.copytree(src, dest)
    if config:
        data = json.loads((dest / "config.json").read_text())
        data.update(config)
        (dest / "config.json").write_text(json.dumps(data))
    if weights == "pickled":
        (dest / "model.safetensors").unlink()
        (dest / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    return dest


def big_id2label(n: int) -> dict:
    """An id2label of n entries (about 40 bytes each: 120,000 make 5 MB)."""
    return {"id2label": {str(i): f"label number {i} of many" for i in range(n)}}


def pad_tokenizer(folder: Path, megabytes: float) -> Path:
    """tokenizer.json grown to `megabytes` with whitespace (still valid JSON)."""
    path = folder / "tokenizer.json"
    text = path.read_text()
    path.write_text(text + " " * int(megabytes * 2**20))
    return path
