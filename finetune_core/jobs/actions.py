"""Heavy actions on a run (ONNX export, predictions): jobs in the same queue, under the same
caps and limits as training, so none of them runs in a web worker while other visitors wait
(an ONNX export once took 14.4 GB and 187 s there).

An action is a kind (a key of KINDS), the run it works on and JSON arguments. `submit` queues
it and returns the job at once; `outcome` tells where it stands and, once done, its result.
It runs `execute` in the job's thread (locally) or in its own process (hosted: `python -m
finetune_core.jobs.worker WORK_DIR` with the visitor's environment, visitor_env.py). Both
read request.json from the action's work folder and write result.json there; its output
files (the ONNX zip) stay beside them. The work folder lives in the run's exports folder
(host/retention.py): it goes with the run and expires.

A new action is one function `(run_dir, args, work_dir, token) -> JSON result` added to
KINDS, and one `submit` call (the Results upload's batch prediction is `predict_file`).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_core.errors import FinetuneError, RunError
from finetune_core.host.retention import exports_of
from finetune_core.jsonfiles import read_json, write_atomic

REQUEST, RESULT, LOG = "request.json", "result.json", "worker.log"


@dataclass
class Action:
    kind: str  # a key of KINDS
    run_dir: Path
    args: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # inputs (an image)
    work_dir: Path | None = None  # made when the job starts: RUN's exports/<job id>

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)


@dataclass
class Outcome:
    state: str  # queued | running | done | failed
    position: int | None = None  # in the queue, 1 = next
    result: Any = None
    error: str | None = None
    work_dir: Path | None = None


# ---- the kinds ------------------------------------------------------------------------------
def _predict(run_dir: Path, args: dict, work: Path, token: str | None) -> list[dict[str, Any]]:
    """{"scores": {label: probability}, "note": the labels on, for multi-label} per input:
    texts as given, images by a file in the work folder."""
    from finetune_core import predict

    out = []
    for item in args.get("inputs") or []:
        if isinstance(item, dict) and "image" in item:
            from PIL import Image

            with Image.open(work / Path(str(item["image"])).name) as image:
                item = image.convert("RGB")
        scores, note = predict.playground(run_dir, item)
        out.append({"scores": scores, "note": note})
    return out


def _predict_file(run_dir: Path, args: dict, work: Path, token: str | None) -> dict[str, Any]:
    """A whole uploaded file through the run's model (finetune predict's function), into the
    work folder; the upload's copy goes when it is done."""
    from finetune_core.host.retention import remove_upload
    from finetune_core.predict.file import predict_file

    source = Path(str(args["input"]))
    name = Path(str(args.get("output") or "predictions.jsonl")).name
    try:
        result = predict_file(run_dir, source, work / name)
    finally:
        remove_upload(source)  # a copy made for this prediction only
    return {"file": name, "rows": result.rows}


def _onnx(run_dir: Path, args: dict, work: Path, token: str | None) -> dict[str, Any]:
    """The ONNX export (checked against PyTorch) and its zip, in the work folder."""
    from finetune_core import export

    result = export.export_onnx(run_dir, quantize=args.get("quantize"), token=token)
    archive = export.zip_onnx(run_dir, dest=work)
    return {
        "archive": archive.name,
        "summary": result.summary(f"{Path(run_dir).name}/onnx"),
        "table": result.table(),
    }


KINDS = {"predict": _predict, "onnx": _onnx, "predict_file": _predict_file}
LABELS = {"predict": "prediction", "onnx": "ONNX export", "predict_file": "file prediction"}


# ---- the seam the page (and the batch prediction) calls -------------------------------------
def submit(
    owner: str,
    kind: str,
    run_dir: str | Path,
    args: dict[str, Any],
    *,
    token: str | None = None,
    files: dict[str, bytes] | None = None,
):
    """Queue an action on one of `owner`'s runs and return its job at once; raises
    FinetuneError (one sentence) when the visitor is over a cap."""
    from finetune_core.jobs.manager import MANAGER

    if kind not in KINDS:
        raise RunError(f"Unknown action {kind!r}.")
    action = Action(kind, Path(run_dir), dict(args), dict(files or {}))
    return MANAGER.submit(owner, action, token=token)


def outcome(job) -> Outcome:
    """Where an action stands; its result once done."""
    from finetune_core.jobs.manager import MANAGER

    work = job.action.work_dir
    if job.state == "queued":
        return Outcome("queued", MANAGER.queue_position(job))
    if job.state == "running":
        return Outcome("running", work_dir=work)
    saved = read_json(work / RESULT) if work else None
    if job.limit_reason:
        return Outcome("failed", error=job.limit_reason, work_dir=work)
    if saved is None:
        why = job.error or f"the {job.label} ended without a result"
        return Outcome("failed", error=f"The {job.label} failed ({why}); try again.")
    if saved.get("error"):
        return Outcome("failed", error=str(saved["error"]), work_dir=work)
    return Outcome("done", result=saved.get("result"), work_dir=work)


# ---- running one (the job's thread) ---------------------------------------------------------
def run(job) -> None:
    """Lay out the work folder and run the action: here, or hosted in its own process."""
    from finetune_core.jobs import launcher, visitor_env

    action: Action = job.action
    work = action.work_dir = exports_of(action.run_dir) / job.id
    work.mkdir(parents=True, exist_ok=True)
    for name, data in action.files.items():
        (work / Path(name).name).write_bytes(data)
    action.files = {}
    request = {"kind": action.kind, "run_dir": str(action.run_dir), "args": action.args}
    write_atomic(work / REQUEST, request)
    if not visitor_env.isolated():
        execute(work, job.token)
        return
    cmd = [sys.executable, "-m", "finetune_core.jobs.worker", str(work)]
    job.process = proc = launcher.start_process(job, cmd, log=work / LOG)
    while True:
        try:
            code = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if job.stop_event.is_set():  # stopped, or over a limit: an action has nothing to save
                launcher.kill_tree(proc)
                code = proc.wait()
                break
    if code and not (work / RESULT).exists():
        job.error = f"its process exited with code {code}"


def execute(work: Path, token: str | None) -> None:
    """Run the action work/request.json describes and write work/result.json."""
    from finetune_core.train.failures import failure_message

    request = read_json(work / REQUEST) or {}
    kind = KINDS.get(str(request.get("kind")))
    try:
        if kind is None:
            raise RunError(f"Unknown action {request.get('kind')!r}.")
        result = kind(Path(request["run_dir"]), request.get("args") or {}, work, token)
        out = {"result": result, "error": None}
    except FinetuneError as exc:
        out = {"result": None, "error": str(exc)}
    except Exception as exc:  # one sentence for the page; never a traceback
        out = {"result": None, "error": failure_message(exc)}
    write_atomic(work / RESULT, out)
