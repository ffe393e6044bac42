"""What a failed run leaves behind: one sentence for the user (the writer puts it in
status.json and the end line, the traceback in error.log, tokens scrubbed), and memory handed
back for the next run."""

from __future__ import annotations

import gc

from finetune_core.errors import FinetuneError


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, FinetuneError):
        return str(exc)
    text = str(exc)
    if "out of memory" in text.lower() or isinstance(exc, MemoryError):
        detail = f" ({text})" if isinstance(exc, MemoryError) and text else ""
        return (
            f"Out of memory{detail}; use a smaller batch_size or max_length, or freeze more layers."
        )
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted by the user; resume the run to go on."
    first = text.strip().splitlines()[0][:300] if text.strip() else ""
    return f"Unexpected error ({type(exc).__name__}: {first}); see error.log in the run folder."


def release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
