"""The demo from a warm page: seconds from pressing Train to the first chart point and to
done, next to one forward pass over the demo data in the same process.

The dashboard runs in this process (ui.app.serve_local) with its imports done, as a page
that is already open; a session starts the demo config through the API (/start_run, what
the Train button queues) and polls /run_status every 0.05 s. The job's thread writes its
phases to status.json; they are read in-process at each poll, so the table shows where the
seconds before the first step go. The baseline, one forward pass over the demo's 400 rows
(tokenized at the demo's max_length, batches of 32, no gradients, the model already loaded),
runs in the same process with the same torch threads, alternated with the demo runs: in
the file's order, and longest first as the feature cache orders its pass (done_x_sorted).

    .venv/bin/python bench/warm.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import common
import server

DONE = ("completed", "failed", "stopped", "interrupted")


def forward_pass(model, batches) -> float:
    """Seconds of one no-grad forward pass over the tokenized batches."""
    import torch

    started = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model(**batch)
    return time.perf_counter() - started


def demo_batches(model_path: str, max_length: int, longest_first: bool, batch_size: int = 32):
    import csv

    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    with common.DEMO_CSV.open() as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    if longest_first:  # as the feature cache's pass orders them
        texts.sort(
            key=lambda t: len(tokenizer(t, truncation=True, max_length=max_length)["input_ids"]),
            reverse=True,
        )
    batches = [
        tokenizer(
            texts[i : i + batch_size],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        for i in range(0, len(texts), batch_size)
    ]
    return model, batches


def demo_run(session: server.Session, out: Path) -> dict:
    """Press Train on the demo config; seconds to the first chart point, to done, per phase."""
    from finetune_core import runs

    config = server.demo_config(out)
    pressed = time.perf_counter()
    answer = session.call("/start_run", config)
    if answer.get("error"):
        raise RuntimeError(answer["error"])
    marks: dict = {"first_point_s": None}
    phases: dict[str, float] = {}
    run_dir = None
    while True:
        status = session.call("/run_status", answer["job_id"])
        now = time.perf_counter() - pressed
        run_dir = run_dir or _run_dir(answer["job_id"])
        phase = runs.read_status(run_dir).phase if run_dir else None
        if phase and phase not in phases:
            phases[phase] = now
        if marks["first_point_s"] is None and (status.get("loss_points") or 0) > 0:
            marks["first_point_s"] = now
        if status.get("state") in DONE:
            if status["state"] != "completed":
                raise RuntimeError(f"demo run {status['state']}: {status.get('error')}")
            break
        time.sleep(0.05)
    return {**marks, "done_s": now, "phases": phases}


def _run_dir(job_id: str):
    from finetune_core.jobs.manager import MANAGER

    with MANAGER._lock:
        job = MANAGER._jobs.get(job_id)
    return job.run_dir if job else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="demo runs (and forward passes)")
    parser.add_argument("--threads", type=int, default=None, help="FINETUNE_NUM_THREADS")
    parser.add_argument("--quick", action="store_true", help="one repeat (make bench's short pass)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    common.setup_env(args.threads)
    import yaml

    from finetune_core.train import device
    from finetune_core.train import run as _run  # noqa: F401  imports done, as on an open page
    from finetune_core.train import trainer as _trainer  # noqa: F401
    from finetune_core.ui.app import serve_local

    common.quiet_libraries()
    scratch = common.scratch_dir("warm-")
    demo, url = serve_local()
    session = server.Session(url, timeout=600)
    cfg = yaml.safe_load((common.ROOT / "assets" / "demo" / "run.yaml").read_text())
    device.configure_threads(leave_free=1)  # as the job's thread sets them
    model, batches = demo_batches(common.minilm_path(), cfg["max_length"], False)
    _, by_length = demo_batches(common.minilm_path(), cfg["max_length"], True)
    forward_pass(model, batches[:2])  # first-call allocations, not the steady pass
    rows = []
    try:
        for i in range(args.repeats):
            row = {"forward_s": forward_pass(model, batches)}
            row |= demo_run(session, scratch / f"run-{i}")
            row["forward_sorted_s"] = forward_pass(model, by_length)
            rows.append(row)
            print(
                f"  run {i}: first point {common.fmt(row['first_point_s'])} s, "
                f"done {row['done_s']:.2f} s, forward {row['forward_s']:.2f} s "
                f"(longest first {row['forward_sorted_s']:.2f} s)",
                flush=True,
            )
    finally:
        session.close()
        demo.close()
    keys = ("forward_s", "forward_sorted_s", "first_point_s", "done_s")
    summary = {k: common.median([r[k] for r in rows]) for k in keys}
    summary["first_point_x"] = common.ratio(summary["first_point_s"], summary["forward_s"])
    summary["done_x"] = common.ratio(summary["done_s"], summary["forward_s"])
    summary["done_x_sorted"] = common.ratio(summary["done_s"], summary["forward_sorted_s"])
    summary["load_avg_1m"] = os.getloadavg()[0]
    print(f"\ndemo from a warm page, medians of {args.repeats} (x = / one forward pass)\n")
    print(common.table([summary], list(summary)))
    print("\nphase entered at (seconds after Train), median\n")
    names = list(dict.fromkeys(p for r in rows for p in r["phases"]))
    phase_rows = [
        {"phase": n, "at_s": common.median([r["phases"][n] for r in rows if n in r["phases"]])}
        for n in names
    ]
    print(common.table(phase_rows, ["phase", "at_s"]))
    common.save("warm", {"args": vars(args), "summary": summary, "runs": rows})


if __name__ == "__main__":
    main()
