"""What a failed run leaves behind: one sentence for the user, the traceback in error.log,
status "failed", tokens scrubbed from all of it, and memory handed back for the next run."""

from __future__ import annotations

import gc
import traceback

from finetune_core.errors import FinetuneError, redact
from finetune_core.runs import RunDir


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


def record_failure(run_dir: RunDir, message: str, exc: BaseException, token: str | None) -> None:
    try:
        with run_dir.error_log_path.open("a", encoding="utf-8") as f:
            f.write(redact("".join(traceback.format_exception(exc)), token))
        run_dir.write_status(state="failed", error=message)
        run_dir.append_metrics({"event": "end", "state": "failed", "error": message})
    except OSError:
        pass  # the run dir itself may be the problem (disk full, removed)


def release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
