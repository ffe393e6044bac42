"""Where the frozen-feature cache keeps its tensors, and how much of them.

Keep only what the trainable part reads. A base model returns per-token outputs, but a
classification head usually reads one vector per example (BERT's pooler output, or the first
token for ViT, RoBERTa and BERT's pooler). Which parts matter is found by trying, not by a table
per architecture: on the first batch, the part after the cut runs with a per-token field made
NaN everywhere, then everywhere but the first token; if the logits stay finite, that part is
never read. So a field is kept whole ("all"), as its first token ("first") or not at all
("none", replayed as zeros). For all-MiniLM-L6-v2 head-only that keeps 1.5 kB per example
instead of 100 kB.

Then the size decides the place: memory up to FINETUNE_CACHE_MAX_GB (default 4, and at most
half of the memory available), else a memory-mapped file in the run folder up to
FINETUNE_CACHE_MAX_DISK_GB (default 20, and at most half of the free disk), else no cache.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from finetune_core.host import env  # a bad value names the variable (one sentence)

ALL, FIRST, NONE = "all", "first", "none"


def probe(fields: dict[str, torch.Tensor], logits_with: Callable) -> dict[str, str]:
    """How much of each field the trainable part reads (see the module doc).

    logits_with(replaced) runs the part after the cut with some fields replaced and returns
    the logits."""
    keep = dict.fromkeys(fields, ALL)
    if not bool(torch.isfinite(logits_with({})).all()):
        return keep  # nothing to learn from a batch that is not finite already
    for name, t in fields.items():
        if t.dim() < 3 or not t.is_floating_point():
            continue
        if _finite(logits_with({name: torch.full_like(t, float("nan"))})):
            keep[name] = NONE
            continue
        tail = t.clone()
        tail[:, 1:] = float("nan")
        if _finite(logits_with({name: tail})):
            keep[name] = FIRST
    return keep


def _finite(logits: torch.Tensor) -> bool:
    return bool(torch.isfinite(logits).all())


def row_shape(
    t: torch.Tensor, keep: str, ragged: bool, length: int | None
) -> tuple[int, ...] | None:
    """Shape of one example's stored row (None: not stored, or a ragged length unknown)."""
    if keep == NONE:
        return None
    if keep == FIRST:
        return (1, *t.shape[2:])
    if ragged:
        return None if length is None else (length, *t.shape[2:])
    return tuple(t.shape[1:])


def place(size: int, folder: Path) -> tuple[str | None, str]:
    """("memory" | "disk" | None, note) for a cache of `size` bytes."""
    gb = 2**30
    memory = min(_env_gb("FINETUNE_CACHE_MAX_GB", 4), _available_memory() / 2)
    if size <= memory:
        return "memory", f"{_human(size)} in memory"
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    disk = min(_env_gb("FINETUNE_CACHE_MAX_DISK_GB", 20), shutil.disk_usage(existing).free / 2)
    if size <= disk:
        return "disk", f"{_human(size)} on disk"
    return None, (
        f"off (about {size / gb:.1f} GB: more than FINETUNE_CACHE_MAX_GB in memory and "
        "FINETUNE_CACHE_MAX_DISK_GB on disk allow)"
    )


def allocate(where: str, shape: tuple[int, ...], dtype, path: Path) -> torch.Tensor:
    """Zeros in memory, or a file-backed tensor (pages go to disk, not to RAM)."""
    if where == "memory":
        return torch.zeros(shape, dtype=dtype)
    path.unlink(missing_ok=True)
    return torch.from_file(str(path), shared=True, size=math.prod(shape), dtype=dtype).view(shape)


def _env_gb(name: str, default: float) -> float:
    return env.number(name, default, unit="gigabytes") * 2**30


def _available_memory() -> float:
    """MemAvailable (free plus reclaimable page cache); unknown off Linux, where
    FINETUNE_CACHE_MAX_GB alone decides."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def _human(size: int) -> str:
    return f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / 2**20:.1f} MB"
