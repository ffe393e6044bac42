"""The dashboard under load, for the responsiveness and load benchmarks: the server in this
process, page sessions over plain HTTP, probes that call on a schedule, and latencies per
phase of a job."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import common


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


def demo_config(out: Path, **overrides: Any) -> str:
    """The demo's run.yaml with overrides and its own output folder."""
    import yaml

    cfg = yaml.safe_load((common.ROOT / "assets" / "demo" / "run.yaml").read_text())
    cfg.update(overrides)
    cfg["output_dir"] = str(out)
    return yaml.safe_dump(cfg)


def job_state(job_id: str) -> str:
    """The job's state in the server's registry (this process)."""
    from finetune_core.jobs.manager import MANAGER

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
                stats = common.latency_stats(by_phase[name])
                count = errors.get(name, 0)
                rows.append({"call": p["label"], "phase": name, **stats, "errors": count})
    return rows
