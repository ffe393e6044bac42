"""Push checkpoints to a Hub repo while training runs, so nothing is lost when a Space sleeps.

On each save the newest checkpoint is staged in the run dir (hard links: instant, and immune to
the Trainer deleting old checkpoints under save_total_limit) with copies of config.json,
metrics.jsonl and status.json, and a background thread uploads the stage as one commit: the
checkpoint to `last-checkpoint/` (the layout of transformers' hub_strategy="checkpoint"), the run
files to `run/` (not the repo root, where config.json would pose as the model's config and
clash with a later push of the finished model). Training never waits for the network: one
upload runs at a time, and a newer checkpoint replaces one still waiting. When training ends
the last upload is awaited and the outcome goes to status.json (`pushed_checkpoint`,
`push_error`); a failed upload is reported there and never stops the run.

Only the run's own token (the user's) is used, never the host's HF_TOKEN, and it is never
written anywhere. The published config.json names a local dataset or model by its file name
only (an upload's server path is the key to that upload).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import HubError
from finetune_core.runs import RunWriter
from finetune_core.train.model_card import public_name

RUN_FILES = (runs.REQUEST, runs.CONFIG, runs.METRICS, runs.STATUS)
STAGING = ".hub-push"
NEEDS_TOKEN = (
    "Pushing checkpoints to the Hub needs your Hugging Face token with write access; "
    "log in or paste a token, or clear push_checkpoints_to."
)


def for_run(cfg: RunConfig, writer: RunWriter, token: str | None) -> CheckpointPusher | None:
    """The callback for a run that asks for it, else None; refuses at once without a token, so
    the run fails before data and model are loaded, not at its first checkpoint."""
    if not cfg.push_checkpoints_to:
        return None
    return CheckpointPusher(writer, cfg.push_checkpoints_to, token)


class CheckpointPusher(TrainerCallback):
    """Uploads the newest checkpoint after each save, in a background thread (see module doc)."""

    def __init__(
        self,
        writer: RunWriter,
        repo_id: str,
        token: str | None,
        *,
        wait_s: float | None = None,
    ) -> None:
        if not token:
            raise HubError(NEEDS_TOKEN)
        self.writer, self.run_dir, self.repo_id = writer, writer.run, repo_id
        self.wait_s = (
            wait_s if wait_s is not None else float(os.environ.get("FINETUNE_PUSH_WAIT_S", 600))
        )
        self.pushed_step: int | None = None
        self.error: str | None = None
        self.uploads = 0  # commits made (tests and the status line read it)
        self._token = token
        self._repo: str | None = None  # resolved id (a bare name gets the user's namespace)
        self._cond = threading.Condition()
        self._pending: tuple[int, Path] | None = None
        self._busy = self._closed = False
        self._thread: threading.Thread | None = None
        self._reported: tuple[Any, Any] = (None, None)

    # ---- Trainer events (training thread) ------------------------------------------------
    def on_save(self, args, state, control, **kwargs):
        if self.writer.main:  # only the main process stages and uploads
            checkpoint = Path(args.output_dir) / runs.checkpoint_name(state.global_step)
            if checkpoint.is_dir():
                self.submit(state.global_step, checkpoint)
            self._report()

    def on_step_end(self, args, state, control, **kwargs):
        if self.writer.main:
            self._report()

    def on_train_end(self, args, state, control, **kwargs):
        if self.writer.main:
            self.close()

    # ---- queue ---------------------------------------------------------------------------
    def submit(self, step: int, checkpoint: Path) -> None:
        """Stage `checkpoint` and queue it, replacing a staged one that has not started."""
        staged = self._stage(step, checkpoint)
        with self._cond:
            if self._pending is not None:
                shutil.rmtree(self._pending[1], ignore_errors=True)
            self._pending = (step, staged)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="checkpoint-push", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def close(self) -> None:
        """Wait (up to wait_s) for the last upload, then record the outcome in status.json."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            deadline = time.monotonic() + self.wait_s
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.error = (
                        f"The last checkpoint upload to {self.repo_id} did not finish within "
                        f"{self.wait_s:.0f} s; the checkpoint is still in the run folder."
                    )
                    break
                self._cond.wait(left)
        self._report(final=True)
        with contextlib.suppress(OSError):
            (self.run_dir.path / STAGING).rmdir()  # only when no upload still reads from it

    def _stage(self, step: int, checkpoint: Path) -> Path:
        dest = self.run_dir.path / STAGING / f"step-{step}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(checkpoint, dest / "last-checkpoint", copy_function=_link_or_copy)
        (dest / "run").mkdir()
        for name in RUN_FILES:
            source = self.run_dir.path / name
            if name in (runs.CONFIG, runs.REQUEST):  # both name the data and the run folder
                _publish_config(source, dest / "run" / name)
            elif source.exists():
                shutil.copy2(source, dest / "run" / name)  # these grow: copy, not link
        return dest

    # ---- upload thread -------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._pending is None:
                    return
                (step, staged), self._pending = self._pending, None
                self._busy = True
            error = None
            try:
                self._upload(step, staged)
            except Exception as exc:  # reported in status.json; training goes on
                from finetune_core.hub.net import write_error

                error = str(write_error(exc, "checkpoint push", self.repo_id, self._token))
            finally:
                shutil.rmtree(staged, ignore_errors=True)
            with self._cond:
                if error is None:
                    self.pushed_step, self.error = step, None
                else:
                    self.error = error
                self._busy = False
                self._cond.notify_all()

    def _upload(self, step: int, staged: Path) -> None:
        from huggingface_hub import CommitOperationAdd, HfApi

        api = HfApi(token=self._token)
        if self._repo is None:
            self._repo = api.create_repo(self.repo_id, private=True, exist_ok=True).repo_id
        operations = [
            CommitOperationAdd(path_in_repo=p.relative_to(staged).as_posix(), path_or_fileobj=p)
            for p in sorted(staged.rglob("*"))
            if p.is_file()
        ]
        api.create_commit(self._repo, operations, commit_message=f"Checkpoint at step {step}")
        self.uploads += 1

    # ---- status (training thread only: status.json has one writer at a time) --------------
    def _report(self, final: bool = False) -> None:
        with self._cond:
            now = (self.pushed_step, self.error)
        if final or now != self._reported:
            self._reported = now
            self.writer.note(pushed_checkpoint=now[0], push_error=now[1])


def _publish_config(source: Path, dest: Path) -> None:
    """The run's config.json (or request.json) as published: the model and dataset by name
    when they are local paths (an upload's server path is the key to it), no run folder path."""
    data = runs.read_json(source)
    if not isinstance(data, dict):
        return
    for key in ("model", "dataset"):
        data[key] = public_name(data.get(key))
    data["output_dir"] = None
    dest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
