"""Device choice, mixed precision and CPU thread count.

Thread count is chosen on purpose: on a small CPU box torch's default grabs every core and
collapses (5-10x slower) when another process is busy, and it starves the web server that
draws the charts. FINETUNE_NUM_THREADS overrides the choice.
"""

from __future__ import annotations

import os
from typing import Any

from finetune_core.errors import ConfigError
from finetune_core.host import env as host_env


def pick_device(preference: str = "auto") -> str:
    """cuda if present, else mps, else cpu; an explicit choice that is absent is an error."""
    import torch

    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if preference == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    if preference == "cuda" and not has_cuda:
        raise ConfigError("device is 'cuda' but no CUDA GPU is visible; use 'auto' or 'cpu'.")
    if preference == "mps" and not has_mps:
        raise ConfigError("device is 'mps' but Apple's MPS is not available; use 'auto'.")
    return preference


def precision(device: str) -> dict[str, bool]:
    """TrainingArguments flags: bf16 where the GPU has it, else fp16 on CUDA; fp32 on CPU/MPS."""
    import torch

    if device == "cuda":
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    return {}


def thread_count(leave_free: int = 0) -> int:
    env = os.environ.get("FINETUNE_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, host_env.cores() - leave_free)


def configure_threads(leave_free: int = 0) -> int:
    """Set torch's intra-op threads; leave_free=1 keeps a core for the web server."""
    import torch

    n = thread_count(leave_free)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def device_info() -> dict[str, Any]:
    """Name and memory of the device a run would use, for the page and the run log."""
    import torch

    device = pick_device("auto")
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        return {
            "device": "cuda",
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_gb": round(props.total_memory / 2**30, 1),
        }
    info: dict[str, Any] = {"device": device, "name": "CPU", "count": 1}
    if device == "mps":
        info["name"] = "Apple MPS"
    memory = host_env.memory_gb()
    info["memory_gb"] = round(memory, 1) if memory else None
    info["threads"] = thread_count()
    return info


def describe(info: dict[str, Any]) -> str:
    mem = f", {info['memory_gb']} GB" if info.get("memory_gb") else ""
    count = f" x{info['count']}" if info.get("count", 1) > 1 else ""
    return f"{info['device']}: {info['name']}{count}{mem}"
