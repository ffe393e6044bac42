"""Builders for hostile inputs (zips, images, YAML bombs, READMEs that point elsewhere) and a
guard that proves nothing was written outside the runs folder. Shared by test_bad_input*.py."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image


# ---- archives --------------------------------------------------------------------------
def write_zip(path: Path, members: dict[str, bytes], *, stored: bool = False) -> Path:
    mode = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", mode) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def bad_crc_zip(path: Path) -> Path:
    """A zip whose member's bytes no longer match the CRC in its header."""
    payload = b"text,label\n" + b"A" * 200 + b",pos\n"
    write_zip(path, {"data/train.csv": payload}, stored=True)
    raw = path.read_bytes()
    at = raw.index(b"A" * 200)
    path.write_bytes(raw[:at] + b"B" + raw[at + 1 :])
    return path


def csv_bytes(rows: int = 12) -> bytes:
    lines = ["text,label"] + [f"good movie number {i},pos" for i in range(rows // 2)]
    lines += [f"bad movie number {i},neg" for i in range(rows // 2)]
    return ("\n".join(lines) + "\n").encode()


def readme_zip(path: Path, data_files: str) -> Path:
    """An uploaded dataset folder whose README front matter points its data files elsewhere."""
    readme = (
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        f"  - split: train\n    path: {data_files}\n---\n# data\n"
    )
    return write_zip(path, {"README.md": readme.encode(), "train.csv": csv_bytes()})


# ---- images ----------------------------------------------------------------------------
def png_bytes(color=(200, 30, 30), size=(8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def truncated_png() -> bytes:
    """A noisy PNG (it does not compress) cut in half: the pixels end early."""
    noise = bytes((i * 7919 + i // 3) % 251 for i in range(64 * 64 * 3))
    out = io.BytesIO()
    Image.frombytes("RGB", (64, 64), noise).save(out, format="PNG")
    data = out.getvalue()
    return data[: len(data) // 2]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A few hundred bytes whose header promises width x height pixels (nothing is allocated:
    the IDAT holds a handful of rows, so decoding it would also fail)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 2)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def image_folder(root: Path, extra: dict[str, bytes]) -> Path:
    """Two classes of good images, plus `extra` files (relative path -> bytes)."""
    for cls, color in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(6):
            (root / cls / f"{cls}{i}.png").write_bytes(png_bytes(color))
    for name, data in extra.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


# ---- config text -----------------------------------------------------------------------
def alias_bomb(key: str = "label_names", levels: int = 9) -> str:
    """A "billion laughs": each level repeats the previous one nine times."""
    lines = ["model: x", "dataset: y", 'l0: &l0 ["lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f"{key}: [" + ", ".join([f"*l{levels - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# ---- nothing written outside ------------------------------------------------------------
def snapshot(*roots: Path) -> set[str]:
    """Every path under the roots (to compare before and after an attack)."""
    out: set[str] = set()
    for root in roots:
        if root.exists():
            for folder, dirs, files in os.walk(root):
                out.update(os.path.join(folder, n) for n in dirs + files)
    return out
