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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
DEMO_CSV = ROOT / "assets" / "demo" / "support_tickets.csv"
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
