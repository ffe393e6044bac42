"""Where a run runs: its processes (one, or several under torchrun / accelerate launch) and
its folder (new, queued by a job, or resumed).

Only the main process (rank 0) writes the run dir (runs.RunWriter); decisions it makes (the
folder, a refusal) reach every process through `agree`, so all of them act on the same answer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RunError
from finetune_core.runs import RunDir, default_run_dir, read_status


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def agree(value: Any) -> Any:
    """The main process's value, on every process (one process: unchanged)."""
    dist = _dist()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def init_distributed() -> None:
    if world()[1] > 1 and _dist() is None:
        from accelerate import PartialState

        PartialState()  # joins the process group the launcher set up (gloo on CPU)


def prepare_run_dir(cfg: RunConfig, resume: bool, queued: RunDir | None = None) -> RunDir:
    """Main process picks and checks the folder; all processes get the same answer.

    queued: a folder a job already created for this run (status "queued"); it is started,
    which is not the same as resuming it."""
    rank, _ = world()
    answer: tuple[str | None, str | None] = (None, None)
    if rank == 0:
        try:
            if queued is not None:
                queued.check_queued()
                path = queued.path
            else:
                path = Path(cfg.output_dir) if cfg.output_dir else default_run_dir(cfg.model)
                RunDir(path).create(resume=resume)
            answer = (str(path), None)
        except FinetuneError as exc:
            answer = (None, str(exc))
    path, error = agree(answer)
    if error:
        raise RunError(error)
    return RunDir(path)


def resume_config(path: Path) -> tuple[RunConfig, RunDir]:
    """The saved config of a run folder (a resume always continues exactly what was started):
    the resolved run (config.json), or the request when the run never got that far."""
    run_dir = RunDir(path)
    if not run_dir.path.is_dir():
        raise RunError(f"{path} is not a run folder; give the folder of the run to resume.")
    saved = run_dir.read_config()
    if saved is None and run_dir.config_path.exists():
        raise RunError(
            f"{run_dir.config_path} is not valid JSON; restore it (it is the run's saved "
            "config) or start a new run."
        )
    saved = saved or run_dir.read_request()
    if saved is None:
        raise RunError(f"{path} has no config.json; it is not a run folder that can be resumed.")
    refusal = None
    if world()[0] == 0:  # rank 0 reads, before it takes the run; every process gets its answer
        status = read_status(path)
        if status.state == "completed":
            refusal = f"Run {path} already completed; start a new run instead."
        elif status.active:
            refusal = f"Run {path} is still {status.state}; stop it before resuming it."
    refusal = agree(refusal)
    if refusal:
        raise RunError(refusal)
    cfg = RunConfig.from_dict({**saved, "output_dir": str(path)})
    return cfg, run_dir
