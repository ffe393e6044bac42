"""Shared helpers for the benchmarks: environment, one-variant-per-subprocess runs, statistics,
tables and JSON results.

Every benchmark compares against a baseline measured in the same invocation, alternating the
variants (A B C, B C A, ...) so that load from other processes on a shared machine hits all of
them alike; tables report medians and ratios, not absolute thresholds.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
DEMO_CSV = ROOT / "assets" / "demo" / "support_tickets.csv"
DEMO_CONFIG = ROOT / "assets" / "demo" / "run.yaml"
RESULT_TAG = "BENCH_RESULT "


# ---- environment ----------------------------------------------------------------------
def setup_env(threads: int | None = None) -> None:
    """Offline, quiet, and a fixed torch thread count; call before importing torch/HF."""
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_DATASETS_CACHE": str(RESULTS / ".cache" / "datasets"),
        "FINETUNE_RUNS_DIR": str(RESULTS / ".runs"),
    }
    if threads:
        env |= {"FINETUNE_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, str(ROOT))


def quiet_libraries() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2: BENCH_MINILM_DIR, else the bundled copy."""
    if os.environ.get("BENCH_MINILM_DIR"):
        return os.environ["BENCH_MINILM_DIR"]
    from finetune_core.model import local_path

    return local_path(MINILM)


def tiny_bert(folder: Path, rows: int) -> tuple[str, str]:
    """A tiny random BERT and a labelled CSV, built as tests/tiny.py builds them."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny import make_bert, text_rows, write_csv

    folder = Path(folder)
    model = make_bert(folder / "tiny-bert")
    data = write_csv(folder / "tiny.csv", text_rows(rows, seed=1))
    return str(model), str(data)


def demo_freeze(model_path: str) -> list[str]:
    """The demo's plan (head + pooler): embeddings and every block frozen."""
    cfg = json.loads((Path(model_path) / "config.json").read_text())
    return ["bert.embeddings"] + [
        f"bert.encoder.layer.{i}" for i in range(cfg["num_hidden_layers"])
    ]


def scratch_dir(prefix: str) -> Path:
    """A folder for the runs' outputs (models, checkpoints: ~100 MB a run), removed at exit
    unless BENCH_KEEP=1."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=RESULTS))
    if os.environ.get("BENCH_KEEP") != "1":
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# ---- timing ---------------------------------------------------------------------------
def clock() -> tuple[float, float]:
    """(wall, CPU) now. CPU time of the process (all threads) is far less disturbed than
    wall time by other processes on a shared machine, so both are reported."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


# ---- one variant per subprocess -------------------------------------------------------
def peak_memory() -> dict[str, float]:
    """Peak RSS of this process (and CUDA peak allocated, when CUDA was used), in MB."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def child_main(functions: dict[str, Any]) -> bool:
    """In a child (`--child NAME JSON`): run one variant, print its result. Else False."""
    if "--child" not in sys.argv:
        return False
    i = sys.argv.index("--child")
    name, args = sys.argv[i + 1], json.loads(sys.argv[i + 2])
    result = functions[name](**args)
    result.update(peak_memory())
    print(RESULT_TAG + json.dumps(result), flush=True)
    return True


def run_child(script: str, name: str, args: dict[str, Any], timeout: float = 1800) -> dict:
    """Run variant `name` of `script` in a fresh interpreter; its result plus process time."""
    cmd = [sys.executable, str(Path(script).resolve()), "--child", name, json.dumps(args)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    elapsed = time.perf_counter() - started
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
            result["process_s"] = elapsed
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    raise RuntimeError(f"variant {name} failed (exit {proc.returncode}):\n" + "\n".join(tail))


def rotations(names: list[str], repeats: int) -> list[str]:
    """A B C, B C A, C A B, ...: each variant takes each position in turn."""
    order = []
    for r in range(repeats):
        k = r % len(names)
        order += names[k:] + names[:k]
    return order


# ---- the dashboard server -------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server():
    """The dashboard in this process, as `make run` serves it; returns (demo, url)."""
    from finetune_core.ui import app

    demo = app.build()
    demo.queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


class Session:
    """A page session over plain HTTP, as a browser talks to the server (POST
    /gradio_api/call/NAME, then the answer from its event stream), with a fixed session hash
    so session state (gr.State, job ownership) holds across calls. gradio_client adds about
    60-100 ms of its own per call on this machine; a browser's JavaScript does not."""

    def __init__(self, url: str, session_hash: str | None = None, timeout: float = 30.0):
        import uuid

        import httpx

        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.timeout = timeout
        self.session_hash = session_hash or uuid.uuid4().hex
        self.owner = f"api-{self.session_hash}"  # how finetune_core.ui.api names its owner

    def call(self, api_name: str, *args: Any) -> Any:
        """The endpoint's outputs (one value, or a list for several). One call at a time per
        session, as a page makes them: two at once may each take the other's answer."""
        deadline = time.monotonic() + self.timeout
        body = {"data": list(args), "session_hash": self.session_hash}
        answer = self.http.post(f"gradio_api/call{api_name}", json=body)
        answer.raise_for_status()
        event_id = answer.json()["event_id"]
        event = None
        with self.http.stream("GET", f"gradio_api/call{api_name}/{event_id}") as stream:
            for line in stream.iter_lines():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{api_name}: no answer within {self.timeout} s")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    data = json.loads(line[5:])
                    if event == "error":
                        raise RuntimeError(f"{api_name} failed: {data}")
                    return data[0] if len(data) == 1 else data
        raise RuntimeError(f"{api_name}: the stream ended without an answer")

    def close(self) -> None:
        self.http.close()


def call(c, *args: Any, api_name: str, timeout: float = 30.0) -> Any:
    """One API call with a deadline: a call that gets no answer counts as an error instead
    of hanging the benchmark (gradio_client.predict has no timeout of its own)."""
    job = c.submit(*args, api_name=api_name)
    try:
        return job.result(timeout=timeout)
    except BaseException:
        job.cancel()
        raise


def demo_config(out: Path, **overrides: Any) -> str:
    """The demo's run.yaml with overrides and its own output folder."""
    import yaml

    cfg = yaml.safe_load(DEMO_CONFIG.read_text())
    cfg.update(overrides)
    cfg["output_dir"] = str(out)
    return yaml.safe_dump(cfg)


def job_state(job_id: str) -> str:
    """The job's state in the server's registry (this process)."""
    from finetune_core.jobs import MANAGER

    with MANAGER._lock:
        job = MANAGER._jobs.get(job_id)
    return job.state if job else "unknown"


def wait_finished(job_id: str, timeout: float = 1800) -> float:
    """Seconds until the job's thread is done (polled in-process, not through the server)."""
    started = time.perf_counter()
    while job_state(job_id) != "finished":
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"job {job_id} still running after {timeout} s")
        time.sleep(0.05)
    return time.perf_counter() - started


class Probe(threading.Thread):
    """Calls `call(i)` every `every` seconds; records (wall clock, seconds) per answer and
    (wall clock, message) per error. `call` returning False means "nothing to ask now"."""

    def __init__(self, label: str, call, every: float):
        super().__init__(name=f"probe-{label}", daemon=True)
        self.label, self.call, self.every = label, call, every
        self.samples: list[tuple[float, float]] = []
        self.errors: list[tuple[float, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            at, started = time.time(), time.perf_counter()
            try:
                done = self.call(i)
            except Exception as exc:  # counted, never fatal: an error is a finding
                self.errors.append((at, f"{type(exc).__name__}: {exc}"[:200]))
            else:
                if done is not False:
                    self.samples.append((at, time.perf_counter() - started))
            i += 1
            self.stop.wait(max(0.0, self.every - (time.perf_counter() - started)))

    def result(self) -> dict[str, Any]:
        return {"label": self.label, "samples": self.samples, "errors": self.errors}


def phase_at(timeline: list[tuple[float, str]], at: float) -> str | None:
    """The phase that a wall-clock time falls in ([(start, name), ...] in order)."""
    name = None
    for start, phase in timeline:
        if at < start:
            break
        name = phase
    return name


def latency_rows(probes: list[dict], timeline: list[tuple[float, str]]) -> list[dict]:
    """Latency percentiles and error counts per probe and phase."""
    rows = []
    for p in probes:
        by_phase: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        for at, seconds in p["samples"]:
            by_phase.setdefault(phase_at(timeline, at) or "before", []).append(seconds)
        for at, _ in p["errors"]:
            name = phase_at(timeline, at) or "before"
            errors[name] = errors.get(name, 0) + 1
            by_phase.setdefault(name, [])
        for name in dict.fromkeys(n for _, n in timeline if n != "end"):
            if name in by_phase:
                stats = latency_stats(by_phase[name])
                count = errors.get(name, 0)
                rows.append({"call": p["label"], "phase": name, **stats, "errors": count})
    return rows


# ---- statistics and output ------------------------------------------------------------
def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    values = sorted(values)
    if not values:
        return None
    rank = max(1, min(len(values), round(q / 100 * len(values) + 0.5)))
    return values[rank - 1]


def latency_stats(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms) if ms else None,
        "mean_ms": statistics.fmean(ms) if ms else None,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs/benchmarks.md)."""
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join([*out, *(line(r) for r in cells)])


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_avg_1m": os.getloadavg()[0],
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path
