"""The Results step's heavy actions (Predict, Export ONNX) as queued jobs (jobs/actions.py).

A click queues the action and returns at once with where it stands; a timer (active only
while one is pending) polls it, and the outputs fill in when it is done. The page never
predicts or exports inside its own event, so a big model's export cannot hold a web worker
while other visitors wait, and it takes its turn in the fair queue with everyone's runs.
Polling counts as presence: a pending action of an open page is never dropped.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

from finetune_core import predict
from finetune_core.errors import FinetuneError
from finetune_core.jobs import actions
from finetune_core.jobs.manager import MANAGER
from finetune_core.ui.common import OK, WARN, message

PREDICT, ONNX, PREDICT_FILE = "predict", "onnx", "predict_file"
DOING = {
    PREDICT: "Predicting",
    ONNX: "Exporting to ONNX (checked against PyTorch)",
    PREDICT_FILE: "Predicting the file",
}


def submit_predict(
    owner: str | None, run_dir: Path | None, text: str, image: Any, token: str | None = None
) -> tuple[str | None, str]:
    """Queue the playground's prediction; (action job id or None, notice)."""
    if run_dir is None:
        return None, message("Train a model first.")
    files: dict[str, bytes] = {}
    if image is not None:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        files["input.png"] = buffer.getvalue()
        inputs: list[Any] = [{"image": "input.png"}]
    elif not str(text or "").strip():
        return None, message("Type some text to try the model.")
    else:
        inputs = [str(text)]
    return _submit(owner, PREDICT, run_dir, {"inputs": inputs}, token, files)


def submit_onnx(
    owner: str | None, run_dir: Path | None, quantize: bool, token: str | None = None
) -> tuple[str | None, str]:
    """Queue an ONNX export of the run's model; (action job id or None, notice)."""
    if run_dir is None:
        return None, message("Train a model first.")
    return _submit(owner, ONNX, run_dir, {"quantize": "int8" if quantize else None}, token, {})


def submit_predict_file(
    owner: str | None, run_dir: Path, upload: str, name: str, token: str | None = None
) -> tuple[str | None, str]:
    """Queue the batch prediction of an upload (already checked and copied, ui/uploads.py)
    into `name`; the action removes the copy when it is done."""
    args = {"input": upload, "output": name}
    return _submit(owner, PREDICT_FILE, run_dir, args, token, {})


def _submit(owner, kind, run_dir, args, token, files) -> tuple[str | None, str]:
    try:
        job = actions.submit(owner or "", kind, run_dir, args, token=token, files=files)
    except FinetuneError as exc:
        return None, message(str(exc))
    return job.id, progress(kind, actions.outcome(job))


def check(owner: str | None, action_id: str | None) -> actions.Outcome | None:
    """Where one of this page's actions stands (None: no such action of this owner)."""
    job = MANAGER.get(action_id or "", owner or "")
    if job is None or job.action is None:
        return None
    MANAGER.touch(owner or "")
    return actions.outcome(job)


def progress(kind: str, got: actions.Outcome) -> str:
    """The notice while an action waits or runs."""
    if got.state == "queued":
        where = f", position {got.position}" if got.position else ""
        return message(
            f"{DOING[kind]}: waiting in the queue{where}; it starts when the device is free.",
            WARN,
        )
    return message(f"{DOING[kind]}…", WARN)


def predicted(got: actions.Outcome) -> tuple[dict[str, float] | None, str]:
    """(class probabilities, notice) of a finished prediction: for a multi-label run the
    notice names the labels over their thresholds (predict.playground)."""
    if got.state != "done":
        return None, message(got.error or "The prediction failed; try again.")
    first = (got.result or [{}])[0]
    note = first.get("note") or ""
    return first.get("scores") or {}, message(note, OK) if note else ""


def predictions_file(got: actions.Outcome) -> tuple[str | None, str]:
    """(path of the predictions file, notice) of a finished batch prediction."""
    if got.state != "done" or got.work_dir is None:
        return None, message(got.error or "The prediction failed; try again.")
    result = got.result or {}
    path = got.work_dir / Path(str(result.get("file"))).name
    return str(path), message(f"Predicted {result.get('rows', 0):,} rows: {path.name}.", OK)


def exported(got: actions.Outcome) -> tuple[str | None, str]:
    """(path of the ONNX zip, notice with the parity figures) of a finished export."""
    if got.state != "done" or got.work_dir is None:
        return None, message(got.error or "The ONNX export failed; try again.")
    result = got.result or {}
    figures = html.escape("\n".join(result.get("table") or []))
    archive = got.work_dir / Path(str(result.get("archive"))).name
    return str(archive), f"{message(str(result.get('summary')), OK)}<pre>{figures}</pre>"


def poll(owner, pending: dict | None) -> tuple[dict[str, str], dict[str, Any]]:
    """(the actions still waiting or running, what to show): {kind: (None, notice)} while an
    action is pending, {kind: (output value, notice, True)} once it is done."""
    left, shown = {}, {}
    for kind, action_id in (pending or {}).items():
        got = check(owner, action_id)
        if got is None:
            continue
        if got.state in ("queued", "running"):
            left[kind] = action_id
            shown[kind] = (None, progress(kind, got))
        else:
            done = {
                PREDICT: predicted,
                ONNX: exported,
                PREDICT_FILE: predictions_file,
            }[kind]
            shown[kind] = (*done(got), True)
    return left, shown


def playground(run_dir: Path, text: str, image) -> tuple[dict[str, float] | None, str]:
    """What the playground shows for one input, here and now: the class probabilities and, for
    a multi-label run, the labels over their thresholds (the queued Predict shows the same)."""
    try:
        scores, note = predict.playground(run_dir, image if image is not None else text)
    except FinetuneError as exc:
        return None, message(str(exc))
    return scores, message(note, OK) if note else ""
