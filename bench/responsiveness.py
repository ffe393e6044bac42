"""Responsiveness: how fast the dashboard answers while a job trains on the CPU.

    .venv/bin/python bench/responsiveness.py [--quick] [--threads N] [--idle S]

The dashboard runs in this process on a free port, as `make run` serves it. A second process
plays the browsers (plain HTTP as a page talks to Gradio: POST /gradio_api/call/NAME and the
answer's event stream; one session and thread per call kind): it starts the demo config
through the API (/start_run), and from then on calls
- /run_status every 1 s (the API's chart poll);
- /tick every 1 s: the page's own chart poll (the gr.Timer event: train_tab.poll, figures,
  progress, log), in a session attached to the job with /on_load as a reloaded page is
  (while a job runs only: a finished run's page stops its timer);
- /do_search every 2 s: the model search (hub.search_models offline: HF_HUB_OFFLINE=1);
- /run_status of an unknown id every 1 s: no work, the Gradio round trip alone;
and times the seconds from pressing start to the first loss point on the chart (/run_status
is polled every 0.25 s until loss_points > 0). In this process, train_tab.poll is also called
every 1 s as an open tab calls it (figures only for new metrics lines) and as a newly opened
tab does (all figures): the poll's own cost, without the HTTP round trip.

Two jobs: the demo config (2 epochs, feature cache on: its work is mostly the one forward pass
that builds the cache) and the same with feature_cache off (3 epochs; --quick: 1 epoch of 128
rows): a training loop through the Trainer all along. Phases: "job starting" (press to first
point: preflight, imports, data, model, cache), "training" (to the end), then "idle" (the same
calls, the run finished): the baseline. Both processes share the machine's two cores with the
job. Writes bench/results/responsiveness.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import common
import server

QUERIES = ["minilm", "bert", "sentence", "all", "mini"]
DONE = ("completed", "failed", "stopped")


# ---- the browser process --------------------------------------------------------------
def browser(url: str, jobs: list[dict], idle_s: float, out: str) -> None:
    """Start each job, poll while it runs and while idle after it; write what it saw."""
    common.setup_env()
    api, page, search, other = (server.Session(url) for _ in range(4))
    timeline: list[tuple[float, str]] = []
    current: dict = {"job": None, "running": False, "status": None}

    def run_status(i):  # the job owner's session: also how the first point is seen
        if not current["job"]:
            return False
        status = api.call("/run_status", current["job"])
        current["status"] = (time.perf_counter(), status)

    def tick(i):
        if not current["running"]:
            return False
        page.call("/tick", False)

    def do_search(i):
        query = QUERIES[i % len(QUERIES)]
        search.call("/do_search", query, "any backbone", "downloads")

    def round_trip(i):
        other.call("/run_status", "no-such-job")

    status_probe = server.Probe("/run_status", run_status, 1.0)
    probes = [
        status_probe,
        server.Probe("/tick (page poll)", tick, 1.0),
        server.Probe("/do_search", do_search, 2.0),
        server.Probe("/run_status, unknown id (round trip)", round_trip, 1.0),
    ]
    for p in probes:
        p.start()
    starts = []
    for job in jobs:
        name = job["name"]
        timeline.append((time.time(), f"job starting ({name})"))
        status_probe.every = 0.25  # until the first point: when it appears is measured
        pressed = time.perf_counter()
        answer = api.call("/start_run", job["config"])
        start_s = time.perf_counter() - pressed
        if answer.get("error"):
            raise RuntimeError(answer["error"])
        page.call("/on_load", api.owner)  # attach the page to the job, as a reload does
        current.update(job=answer["job_id"], running=True, status=None)
        marks = {"running_s": None, "first_point_s": None}
        while True:
            time.sleep(0.05)
            if current["status"] is None:
                continue
            seen_at, status = current["status"]
            if marks["running_s"] is None and status.get("state") != "queued":
                marks["running_s"] = seen_at - pressed
            if marks["first_point_s"] is None and (status.get("loss_points") or 0) > 0:
                marks["first_point_s"] = seen_at - pressed
                timeline.append((time.time(), f"training ({name})"))
                status_probe.every = 1.0
            if status.get("state") in DONE:
                break
        total = current["status"][0] - pressed
        current["running"] = False
        status_probe.every = 1.0
        starts.append({"scenario": name, "start_run_s": start_s, **marks, "job_s": total})
        print(f"  {name}: first point {marks['first_point_s']}, done {total:.1f}s", flush=True)
        timeline.append((time.time(), f"idle (after {name})"))
        time.sleep(idle_s)
    timeline.append((time.time(), "end"))
    for p in probes:
        p.stop.set()
    for p in probes:
        p.join(60)
    result = {"timeline": timeline, "starts": starts, "probes": [p.result() for p in probes]}
    Path(out).write_text(json.dumps(result))


# ---- the server process ---------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller second job, short idle")
    parser.add_argument("--threads", type=int, default=None, help="FINETUNE_NUM_THREADS")
    parser.add_argument("--idle", type=float, default=None, help="seconds of idle baseline")
    args = parser.parse_args()
    common.setup_env(args.threads)
    idle_s = args.idle or (8 if args.quick else 20)
    scratch = common.scratch_dir("responsiveness-")
    from finetune_core.jobs.manager import MANAGER
    from finetune_core.ui import app, train_tab

    demo, url = app.serve_local()

    small = {"max_train_samples": 128, "epochs": 1} if args.quick else {"epochs": 3}
    jobs = [
        {"name": "cache on", "config": server.demo_config(scratch / "run0", epochs=2)},
        {
            "name": "cache off",
            "config": server.demo_config(scratch / "run1", feature_cache=False, **small),
        },
    ]
    drawn = {"n": -1}  # an open tab's count of records already drawn

    def poll(i, fresh: bool):
        with MANAGER._lock:
            job = max(MANAGER._jobs.values(), key=lambda j: j.created, default=None)
        if job is None:
            return False
        out = train_tab.poll(job.owner, job.id, False, -1 if fresh else drawn["n"])
        if not fresh:
            drawn["n"] = out["records"]

    probes = [
        server.Probe("poll() in-process, open tab", lambda i: poll(i, False), 1.0),
        server.Probe("poll() in-process, new tab", lambda i: poll(i, True), 1.0),
    ]
    for p in probes:
        p.start()
    out = scratch / "browser.json"
    args_json = json.dumps({"url": url, "jobs": jobs, "idle_s": idle_s, "out": str(out)})
    try:
        subprocess.run([sys.executable, __file__, "--browser", args_json], check=True)
    finally:
        for p in probes:
            p.stop.set()
        demo.close()
    seen = json.loads(out.read_text())
    timeline = [tuple(t) for t in seen["timeline"]]
    rows = server.latency_rows(seen["probes"] + [p.result() for p in probes], timeline)
    idle = {(r["call"], r["phase"]): r for r in rows if r["phase"].startswith("idle")}
    for row in rows:  # job starting / training vs the idle phase after the same job
        scenario = row["phase"].split("(", 1)[-1]
        base = idle.get((row["call"], f"idle (after {scenario}"))
        if base is not None and base is not row:
            row["p95_vs_idle"] = common.ratio(row["p95_ms"], base["p95_ms"])
    columns = ["call", "phase", "n", "errors", "p50_ms", "p95_ms", "max_ms", "p95_vs_idle"]
    print("\nlatency while a job runs vs idle (same server, same calls)\n")
    print(common.table(rows, columns))
    print("\nfrom pressing start to the first point on the chart (seconds)\n")
    starts = seen["starts"]
    print(common.table(starts, ["scenario", "start_run_s", "running_s", "first_point_s", "job_s"]))
    errors = {p["label"]: p["errors"][:5] for p in seen["probes"] if p["errors"]}
    common.save(
        "responsiveness",
        {"args": vars(args), "rows": rows, "starts": starts, "errors": errors, **seen},
    )


if __name__ == "__main__":
    if "--browser" in sys.argv:
        browser(**json.loads(sys.argv[sys.argv.index("--browser") + 1]))
    else:
        main()
