"""Load: 20 simulated sessions polling the charts while one job trains (issue 5, many users).

    .venv/bin/python bench/load.py [--quick] [--sessions N] [--repeats N] [--threads N]

The dashboard runs in this process on a free port. The same job (the demo data on
all-MiniLM-L6-v2 with the demo's freeze plan, feature cache off so the whole run is a training
loop) runs alternately without load and with N sessions (default 20) polling, A B A B. The
sessions live in a second process, as browsers do; each is a page session attached to the
job with /on_load (as a reloaded page re-attaches) and calls the page's chart poll (/tick)
every second, starting at random offsets, until the job ends. Reported: every poll answered
or not (errors, timeouts of 30 s), poll latency percentiles, the training slowdown = job time
under load / job time without load (medians), for the job's wall time (start to end, in the
server) and its training time (the run's own clock, metrics.jsonl), and the server's extra
CPU time per poll (its process CPU time under load minus without, over the polls answered).
Both processes and the job share the machine's two cores. Writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import common
import server


# ---- the sessions process -------------------------------------------------------------
def sessions(url: str, owner_hash: str, n: int, stop_file: str, out: str) -> None:
    common.setup_env()
    stop = threading.Event()
    probes = []
    for i in range(n):
        page = server.Session(url)
        page.call("/on_load", f"api-{owner_hash}")  # this page now shows the job's charts

        def tick(k, page=page):
            if k == 0:
                time.sleep(random.random())  # pages were not all opened in the same second
            page.call("/tick", False)

        probes.append(server.Probe(f"session {i}", tick, 1.0))
    for p in probes:
        p.start()
    while not Path(stop_file).exists():
        stop.wait(0.2)
    for p in probes:
        p.stop.set()
    for p in probes:
        p.join(60)
    Path(out).write_text(json.dumps([p.result() for p in probes]))


# ---- the server process ---------------------------------------------------------------
def run_job(cfg_text: str, owner: str) -> dict:
    """Start a job as /start_run does and wait for it; its wall and training seconds."""
    from finetune_core.config import RunConfig, parse_text
    from finetune_core.jobs.manager import MANAGER

    cfg = RunConfig.from_dict(parse_text(cfg_text, "config"))
    started, cpu = time.perf_counter(), time.process_time()
    job = MANAGER.start(cfg, owner)
    return {"job": job, "started": started, "cpu": cpu}


def finish(job: dict) -> dict:
    from finetune_core import runs

    server.wait_finished(job["job"].id)
    wall = time.perf_counter() - job["started"]
    cpu = time.process_time() - job["cpu"]  # the server process: job and web server
    records = runs.read_metrics(job["job"].run_dir)
    status = runs.read_json(Path(job["job"].run_dir) / "status.json") or {}
    end = [r for r in records if r.get("event") == "end"]
    return {
        "state": status.get("state"),
        "job_s": wall,
        "server_cpu_s": cpu,
        "train_s": end[-1].get("time") if end else None,
        "steps": status.get("step"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 train rows, A B once")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=None, help="A B pairs")
    parser.add_argument("--threads", type=int, default=None, help="FINETUNE_NUM_THREADS")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 2)
    common.setup_env(args.threads)
    scratch = common.scratch_dir("load-")
    from finetune_core.ui import app  # here: the client process never loads the dashboard

    demo, url = app.serve_local()
    owner_hash = "load" + "0" * 28
    owner = f"api-{owner_hash}"
    size = {"max_train_samples": 128} if args.quick else {}
    overrides = {"epochs": 1, "feature_cache": False, **size}
    # a first small job pays the one-time imports, so that A and B compare like with like
    warm = run_job(server.demo_config(scratch / "warm-up", epochs=1, max_train_samples=16), owner)
    finish(warm)
    results: dict[str, list[dict]] = {"no load": [], f"{args.sessions} sessions": []}
    polls: list[dict] = []
    try:
        for r in range(repeats):
            for loaded in (False, True):
                name = f"{args.sessions} sessions" if loaded else "no load"
                job = run_job(
                    server.demo_config(scratch / f"run{r}-{int(loaded)}", **overrides), owner
                )
                child = None
                if loaded:
                    stop_file, out = scratch / f"stop{r}", scratch / f"polls{r}.json"
                    spec = {"url": url, "owner_hash": owner_hash, "n": args.sessions}
                    spec |= {"stop_file": str(stop_file), "out": str(out)}
                    child = subprocess.Popen(
                        [sys.executable, __file__, "--sessions-child", json.dumps(spec)]
                    )
                result = finish(job)
                if child is not None:
                    stop_file.touch()
                    child.wait(120)
                    polls += json.loads(out.read_text())
                results[name].append(result)
                print(
                    f"  {name:12} job {result['job_s']:.1f}s train {result['train_s']}s "
                    f"({result['state']})",
                    flush=True,
                )
    finally:
        demo.close()
    base = {k: common.median([r[k] for r in results["no load"]]) for k in ("job_s", "train_s")}
    rows = []
    for name, runs_ in results.items():
        job_s = common.median([r["job_s"] for r in runs_])
        train_s = common.median([r["train_s"] for r in runs_])
        rows.append(
            {
                "condition": name,
                "n": len(runs_),
                "job_s": job_s,
                "train_s": train_s,
                "server_cpu_s": common.median([r["server_cpu_s"] for r in runs_]),
                "job_slowdown": common.ratio(job_s, base["job_s"]),
                "train_slowdown": common.ratio(train_s, base["train_s"]),
            }
        )
    latencies = [s for p in polls for _, s in p["samples"]]
    errors = [e for p in polls for _, e in p["errors"]]
    loaded = results[f"{args.sessions} sessions"]
    extra_cpu = sum(r["server_cpu_s"] for r in loaded) - len(loaded) * common.median(
        [r["server_cpu_s"] for r in results["no load"]]
    )
    poll_row = {
        "sessions": args.sessions,
        "polls": len(latencies) + len(errors),
        "answered": len(latencies),
        "errors": len(errors),
        **common.latency_stats(latencies),
        "server_cpu_ms_per_poll": 1000 * extra_cpu / max(1, len(latencies)),
    }
    print(f"\njob time with and without {args.sessions} polling sessions (medians)\n")
    columns = ["condition", "n", "job_s", "train_s", "server_cpu_s", "job_slowdown"]
    print(common.table(rows, [*columns, "train_slowdown"]))
    print("\nchart polls (/tick) during the loaded runs\n")
    columns = ["sessions", "polls", "answered", "errors", "p50_ms", "p95_ms", "max_ms"]
    print(common.table([poll_row], [*columns, "server_cpu_ms_per_poll"]))
    common.save(
        "load",
        {
            "args": vars(args),
            "rows": rows,
            "polls": poll_row,
            "errors": errors[:10],
            "runs": results,
        },
    )


if __name__ == "__main__":
    if "--sessions-child" in sys.argv:
        sessions(**json.loads(sys.argv[sys.argv.index("--sessions-child") + 1]))
    else:
        main()
