"""Uploaded datasets and configs: accepted types, size and count limits, zip-slip-safe unzip.

Each upload is copied into its own random folder under the uploads root, so the engine only
ever reads files the dashboard placed there itself. Uploads go with the last run that uses
them and expire (host/retention.py); each new upload sweeps the expired ones.
"""

from __future__ import annotations

import os
import secrets
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from finetune_core.errors import DataError
from finetune_core.host import env, retention
from finetune_core.host.paths import uploads_root

DATA_TYPES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".zip")
CONFIG_TYPES = (".yaml", ".yml", ".json")
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def max_upload_mb() -> float:
    return env.number("FINETUNE_MAX_UPLOAD_MB", 200, unit="megabytes")


def max_zip_files() -> int:
    return env.whole("FINETUNE_MAX_ZIP_FILES", 20000, unit="files")


def _check_size(path: Path, limit_mb: float) -> None:
    size_mb = path.stat().st_size / 2**20
    if size_mb > limit_mb:
        raise DataError(
            f"{path.name} is {size_mb:.0f} MB, over the {limit_mb:.0f} MB upload limit; "
            "upload a smaller file or use a Hub dataset."
        )


def save_data_upload(src: str | os.PathLike) -> Path:
    """Copy an uploaded data file (or unzip an uploaded folder) and return the dataset path.
    Any failure is one sentence and leaves nothing behind in the uploads folder."""
    src = Path(src)
    suffix = src.suffix.lower()
    if suffix not in DATA_TYPES:
        raise DataError(
            f"{src.name} is not a supported upload; use {', '.join(DATA_TYPES)} "
            "(zip for an image folder)."
        )
    _check_size(src, max_upload_mb())
    retention.sweep()
    dest = uploads_root() / secrets.token_hex(8)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if suffix != ".zip":
            target = dest / _safe_name(src.name)
            shutil.copyfile(src, target)
            return target
        return extract_zip(src, dest / "data")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name)
    return keep or "upload"


# what a damaged or odd archive raises while it is read: a lying header (Bad CRC-32), a
# truncated stream, an unknown compression method, an encrypted member, a name that is both
# a file and a folder
_UNPACK_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def extract_zip(src: Path, dest: Path) -> Path:
    """Unzip with limits; any member escaping `dest` (`../`, absolute paths) is refused, and a
    failure part way removes what was unpacked."""
    try:
        archive = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DataError(f"{src.name} is not a valid zip file; zip the folder again.") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise DataError(f"{src.name} holds no files; zip the folder with its files.")
        if len(members) > max_zip_files():
            raise DataError(
                f"{src.name} holds {len(members)} files, over the limit of {max_zip_files()}."
            )
        total = sum(m.file_size for m in members) / 2**20
        if total > max_upload_mb() * 4:
            raise DataError(
                f"{src.name} unpacks to {total:.0f} MB, over the limit; upload a smaller archive."
            )
        root = dest.resolve()
        for member in members:
            parts = PurePosixPath(member.filename.replace("\\", "/")).parts
            target = root.joinpath(*parts).resolve() if parts else root
            if ".." in parts or member.filename.startswith("/") or root not in target.parents:
                raise DataError(
                    f"{src.name} contains an unsafe path ({member.filename}); it was not unpacked."
                )
        try:
            _unpack(archive, members, root)
        except _UNPACK_ERRORS as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise DataError(_unpack_error(src.name, exc)) from None
    return _dataset_root(dest)


def _unpack(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for member in members:
        if member.filename.startswith("__MACOSX/") or Path(member.filename).name.startswith("._"):
            continue
        target = root.joinpath(*PurePosixPath(member.filename.replace("\\", "/")).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as fin, open(target, "xb") as fout:
            shutil.copyfileobj(fin, fout)


def _unpack_error(name: str, exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError):
        where = Path(exc.filename).name if getattr(exc, "filename", None) else "a name"
        return (
            f"{name} holds {where} both as a file and as a folder (or twice); rename one "
            "and zip it again."
        )
    if "encrypted" in text or "password" in text:
        return f"{name} is password-protected; zip the folder again without a password."
    if isinstance(exc, NotImplementedError):
        return f"{name} uses a compression method that cannot be read; zip it again (deflate)."
    if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile):
        return f"{name} could not be unpacked here ({exc.strerror or type(exc).__name__})."
    return f"{name} is damaged ({text or type(exc).__name__}); zip the folder again."


def _dataset_root(dest: Path) -> Path:
    """A zip of one top folder holding the class folders: use that folder."""
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        inner = [p for p in entries[0].iterdir() if not p.name.startswith(".")]
        if inner and all(p.is_dir() for p in inner):
            return entries[0]
        if len(inner) == 1 and inner[0].is_file():
            return inner[0]
    if len(entries) == 1 and entries[0].is_file():
        return entries[0]
    return dest


def check_config_upload(src: str | os.PathLike) -> Path:
    src = Path(src)
    if src.suffix.lower() not in CONFIG_TYPES:
        raise DataError(f"{src.name} is not a config file; upload a .yaml or .json file.")
    _check_size(src, 1)
    return src
