"""Helpers for the service-side attacks on a hosted server (tests/test_abuse_*.py): the page's
events called over HTTP with the page's own default values, waiting for a run or an action,
and the bounds every attack is held to (the server's memory, its files)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from finetune_core import runs

# the server runs in the test process: its resident memory may grow by at most this much
# during one attack (a 5 MB owner id kept per page load, a model loaded in a web worker, a
# dense confusion matrix would each pass it)
SERVER_GROWTH_MB = 150


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def event_values(client, api_name: str, **by_label: Any) -> list[Any]:
    """The values a page event sends (its non-state inputs, in order): each widget's default
    from the page's config, replaced by `by_label[label]` where given."""
    comps = {c["id"]: c for c in client.config["components"]}
    dep = next(d for d in client.config["dependencies"] if d.get("api_name") == api_name)
    values = []
    for cid in dep["inputs"]:
        comp = comps[cid]
        if comp["type"] in ("state", "browserstate"):
            continue
        label = comp["props"].get("label")
        values.append(by_label[label] if label in by_label else comp["props"].get("value"))
    return values


def wait_status(client, job_id: str, states: tuple[str, ...], seconds: float = 180) -> dict:
    """Poll /run_status (as a script does) until the run is in one of `states`."""
    deadline = time.monotonic() + seconds
    status: dict = {}
    while time.monotonic() < deadline:
        status = client.predict(job_id, api_name="/run_status")
        if status.get("state") in states:
            return status
        time.sleep(0.4)
    raise AssertionError(f"run {job_id} never reached {states}: {status}")


def wait_file_state(run_dir: Path, states: tuple[str, ...], seconds: float = 180) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = runs.read_status(run_dir)
        if status.get("state") in states:
            return status
        time.sleep(0.4)
    raise AssertionError(f"{run_dir.name} never reached {states}: {runs.read_status(run_dir)}")


def wait_idle(seconds: float = 180) -> None:
    """Until no run under the runs folder is queued or running (the slot is free)."""
    deadline = time.monotonic() + seconds
    while any(v.state in runs.ACTIVE for v in runs.list_runs()):
        assert time.monotonic() < deadline, "runs of an earlier test are still active"
        time.sleep(0.3)


def answers(client) -> None:
    """The server still answers another visitor while the attack's work goes on."""
    assert isinstance(client.predict(api_name="/my_runs"), list)


def one_sentence(text: str) -> None:
    assert text and "\n" not in text and "Traceback" not in text, text
