"""Where the dashboard runs: Spaces storage, hardware, ZeroGPU, and the notice shown on top.

On a Space, runs go to persistent storage (/data) when the Space has it; else to a temporary
folder that a restart wipes, and the page says so. ZeroGPU lends a GPU only inside a decorated
call of limited length, so background training cannot hold it: the page says which hardware to
pick instead rather than failing later.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from finetune_core.train import device
from finetune_core.ui.common import hosted, on_spaces


def persistent_root() -> Path | None:
    data = Path(os.environ.get("FINETUNE_PERSISTENT_DIR", "/data"))
    return data if data.is_dir() and os.access(data, os.W_OK) else None


def configure_runs_dir() -> str | None:
    """On Spaces, point FINETUNE_RUNS_DIR at /data/runs or a temp folder; returns a notice."""
    if not on_spaces() or os.environ.get("FINETUNE_RUNS_DIR"):
        return None
    root = persistent_root()
    if root is not None:
        os.environ["FINETUNE_RUNS_DIR"] = str(root / "finetune-runs")
        return None
    os.environ["FINETUNE_RUNS_DIR"] = str(Path(tempfile.gettempdir()) / "finetune-runs")
    return (
        "This Space has no persistent storage: runs and checkpoints are lost when it restarts or "
        "sleeps. Download or push your model when it is done, or enable persistent storage."
    )


def zero_gpu() -> bool:
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true", "yes")


def hardware_name() -> str:
    if zero_gpu():
        return "ZeroGPU"
    info = device.device_info()
    if info["device"] == "cuda":
        return f"{info['name']} ({info['memory_gb']} GB)"
    return "CPU basic" if on_spaces() else f"CPU ({info.get('threads', '?')} threads)"


def notices() -> list[str]:
    """Sentences for the top of the page (empty when running locally without surprises)."""
    out = []
    if hosted():
        from finetune_core.hub.net import forbid_implicit_token

        forbid_implicit_token()  # from the start: no library call borrows the host's token
    if on_spaces():
        out.append(f"Running on a Hugging Face Space, hardware: {hardware_name()}.")
    if zero_gpu():
        out.append(
            "ZeroGPU cannot hold a GPU for background training; training here runs on the CPU. "
            "Duplicate the Space and pick a dedicated GPU (T4, L4 or A10G) in its settings."
        )
    note = configure_runs_dir()
    if note:
        out.append(note)
    return out


def too_big_warning(
    params: int | None, memory_bytes: int | None, examples: int | None
) -> str | None:
    """A warning when the model will not fit or will be very slow on this hardware."""
    info = device.device_info()
    if memory_bytes and info.get("memory_gb") and memory_bytes > info["memory_gb"] * 2**30 * 0.9:
        return (
            f"This model needs about {memory_bytes / 2**30:.1f} GB to train, more than the "
            f"{info['memory_gb']} GB here; freeze more layers, lower the batch size or pick "
            "bigger hardware."
        )
    if params and examples and info["device"] == "cpu":
        # about 6 FLOPs per parameter and token for a full step, ~50 GFLOP/s on a CPU core
        seconds = params * 6 * examples * 128 / (50e9 * max(1, info.get("threads", 1)))
        if seconds > 3600:
            return (
                f"On this CPU one epoch of full fine-tuning takes roughly {seconds / 3600:.0f} h; "
                "freeze the backbone (the cache then makes later epochs fast) or use a GPU."
            )
    return None
