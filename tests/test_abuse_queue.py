"""Issue 20, the queue of a public Space under abuse, through a real hosted server (the fixtures
of test_bad_input_hosted.py: FINETUNE_HOSTED=1, the host's HF_TOKEN set, the fake Hub): one
session floods the queue, a config holds the only slot for hours or fills the disk with
checkpoints, a page asks for 16 processes on 2 cores, a polling client loses its queued run,
a page load claims a 5 MB owner id, a config sets freeze_plan. Each attack gets its one
sentence, the server answers other visitors meanwhile, its memory stays within
abuse.SERVER_GROWTH_MB, and nothing is written outside the runs folder."""

from __future__ import annotations

import gc
import re
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import abuse
import hostile
import pytest
import test_bad_input_hosted as base
from gradio_client import Client

from finetune_core import runs
from finetune_core.host import env
from finetune_core.jobs import limits
from finetune_core.jobs.manager import MANAGER

hosted_server, visitor, uploaded = base.hosted_server, base.visitor, base.uploaded  # fixtures
config = base.config


@pytest.fixture
def world(hosted_server, uploaded):
    """Each attack starts with the slot free and ends with every job of its own stopped."""
    abuse.wait_idle()
    before = (abuse.rss_mb(), hostile.snapshot(hosted_server["outside"].parent))
    clients: list[Client] = []

    def client() -> Client:
        clients.append(Client(hosted_server["url"], verbose=False))
        return clients[-1]

    yield {**hosted_server, "good": uploaded["good"], "client": client}
    for c in clients:
        for run in c.predict(api_name="/my_runs"):
            c.predict(run["job_id"], api_name="/stop_run")
    abuse.wait_idle()
    assert abuse.rss_mb() - before[0] < abuse.SERVER_GROWTH_MB, "the server's memory grew"
    after = hostile.snapshot(hosted_server["outside"].parent)
    assert after - before[1] == set(), "written outside the runs folder"


def long_run(w) -> str:
    return config(w["bert"], w["good"], epochs=500)


def test_one_session_cannot_fill_the_queue_and_a_newcomer_is_next(world, monkeypatch):
    """The attack queued 200 runs in 41 s from one API session; the next visitor was 202nd."""
    monkeypatch.setenv("FINETUNE_MAX_QUEUED_PER_VISITOR", "2")
    monkeypatch.setenv("FINETUNE_MAX_QUEUE", "4")
    root = runs.runs_root()
    folders = set(root.iterdir())
    flood = world["client"]()
    with ThreadPoolExecutor(6) as pool:  # a burst, all at once
        answers = list(
            pool.map(lambda _: flood.predict(long_run(world), api_name="/start_run"), range(12))
        )
    accepted = [a for a in answers if a["job_id"]]
    assert len(accepted) == 3, answers  # its one running job and two waiting
    for a in answers:
        if not a["job_id"]:
            assert a["error"] == (
                "You already have 2 jobs waiting in the queue, the most one visitor may have "
                "here (FINETUNE_MAX_QUEUED_PER_VISITOR); wait for one to start, or stop one."
            )
    assert len(set(root.iterdir()) - folders) == 3, "a refused start left a run folder"
    # round-robin: a visitor who never had a turn goes before the flood's waiting runs
    newcomer, third, late = world["client"](), world["client"](), world["client"]()
    first = newcomer.predict(long_run(world), api_name="/start_run")
    assert newcomer.predict(first["job_id"], api_name="/run_status")["queue_position"] == 1
    second = third.predict(long_run(world), api_name="/start_run")
    assert third.predict(second["job_id"], api_name="/run_status")["queue_position"] == 2
    positions = sorted(
        flood.predict(a["job_id"], api_name="/run_status")["queue_position"] or 0 for a in accepted
    )
    assert positions == [0, 3, 4]  # running, then one turn each after the newcomers
    full = late.predict(long_run(world), api_name="/start_run")
    assert full["job_id"] is None and full["error"] == (
        "The queue is full (4 jobs waiting, FINETUNE_MAX_QUEUE); try again when a job has finished."
    )
    abuse.answers(late)


def test_a_run_is_stopped_at_its_wall_time_and_the_slot_goes_on(world, monkeypatch):
    """`epochs: 1000` held the only slot for hours; a config that keeps 1,000 checkpoints
    filled the disk. Both are stopped (the model so far saved), and the next run starts."""
    monkeypatch.setenv("FINETUNE_MAX_RUN_MINUTES", "0.1")
    hog, disk = world["client"](), world["client"]()
    first = hog.predict(long_run(world), api_name="/start_run")
    many = config(world["bert"], world["good"], epochs=500, save_steps=1, save_total_limit=1000)
    second = disk.predict(many, api_name="/start_run")
    assert disk.predict(second["job_id"], api_name="/run_status")["state"] == "queued"
    status = abuse.wait_status(hog, first["job_id"], ("stopped", "failed", "completed"))
    assert status["state"] == "stopped", status
    assert status["error"] == (
        "The run was stopped after 6 seconds, the most one job may take here "
        "(FINETUNE_MAX_RUN_MINUTES); train fewer epochs or on less data."
    )
    # the next one takes the slot; it keeps a checkpoint a step until the disk cap stops it
    monkeypatch.setenv("FINETUNE_MAX_RUN_MINUTES", "0")
    monkeypatch.setenv("FINETUNE_MAX_RUN_DISK_GB", "0.001")
    abuse.answers(hog)
    status = abuse.wait_status(disk, second["job_id"], ("stopped", "failed", "completed"))
    assert status["state"] == "stopped", status
    abuse.one_sentence(status["error"])
    assert re.fullmatch(
        r"The run folder grew to \d+ MB, past the 1 MB one run may hold here "
        r"\(FINETUNE_MAX_RUN_DISK_GB\); keep fewer checkpoints \(save_total_limit\) or save "
        r"less often \(save_steps\)\.",
        status["error"],
    ), status["error"]
    folder = runs.runs_root() / second["run"]
    kept = list((folder / "checkpoints").glob("checkpoint-*"))
    # stopped within a watchdog period of the cap: a few checkpoints, not a thousand
    assert 1 <= len(kept) < 200 and limits.folder_gb(folder) < 0.02, len(kept)


def test_a_page_cannot_start_more_processes_than_cores(world, visitor):
    """`processes: 16` on 2 cores started 17 processes; now it is one sentence, nothing runs."""
    path, _ = base.upload(visitor, world["tmp"] / "good.csv")
    values = abuse.event_values(
        visitor,
        "do_train",
        **{
            "Processes": 16,
            "Model (Hub id or local folder)": world["bert"],
            "Dataset (Hub id, file or folder)": path,
            "Epochs": 1,
            "Max length (text)": 16,
        },
    )
    folders = set(runs.runs_root().iterdir())
    out = visitor.predict(*values, api_name="/do_train")
    note = next(o for o in out if isinstance(o, str) and "processes" in o)
    cores = env.cores()
    assert (
        f"processes is 16, more than the {cores} this server allows (FINETUNE_MAX_PROCESSES: "
        f"one per core); use at most {cores}." in note
    ), note
    assert set(runs.runs_root().iterdir()) == folders
    abuse.answers(world["client"]())


def test_a_polling_client_keeps_its_queued_run(world, monkeypatch):
    """A queued run was dropped ("its page was closed") after FINETUNE_QUEUE_TIMEOUT although
    its client polled /run_status: polling is presence; silence still drops a run."""
    monkeypatch.setattr(MANAGER, "queue_timeout", 3.0)
    hog, poller, silent = world["client"](), world["client"](), world["client"]()
    first = hog.predict(long_run(world), api_name="/start_run")
    kept = poller.predict(long_run(world), api_name="/start_run")
    gone = silent.predict(long_run(world), api_name="/start_run")
    deadline = time.monotonic() + 6  # twice the timeout, polling as a script does
    while time.monotonic() < deadline:
        assert poller.predict(kept["job_id"], api_name="/run_status")["state"] == "queued"
        hog.predict(first["job_id"], api_name="/run_status")
        time.sleep(0.5)
    hog.predict(first["job_id"], api_name="/stop_run")  # the slot frees: the queue is looked at
    abuse.wait_status(poller, kept["job_id"], ("running",))
    status = silent.predict(gone["job_id"], api_name="/run_status")
    assert status["state"] == "failed", status
    assert status["error"] == "dropped from the queue: its page was closed"


def test_a_page_load_claiming_a_huge_owner_id_is_refused(world):
    """A page load hands the server the owner id the browser stored; a claimed 5 MB one is
    replaced by a fresh id and never kept (each was held for good before: 100 MB here)."""
    client = base.page_client(world["url"])
    gc.collect()
    tracemalloc.start()
    owners = set()
    for _ in range(20):
        owner = client.predict("f" * 5_000_000, api_name="/on_load")[0]
        assert re.fullmatch(r"[0-9a-f]{32}", owner), owner[:80]
        owners.add(owner)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert kept < 20 * 2**20, f"{kept / 2**20:.0f} MB of the claims were kept"
    assert len(owners) == 20  # a new id each time, never the claim
    issued = owners.pop()  # an id the server issued is kept: a reload finds its runs again
    assert client.predict(issued, api_name="/on_load")[0] == issued
    abuse.answers(world["client"]())


def test_freeze_plan_is_not_a_key_a_visitor_sets(world):
    client = world["client"]()
    text = config(world["bert"], world["good"]) + "freeze_plan: {frozen: [], reason: mine}\n"
    answer = client.predict(text, api_name="/start_run")
    assert answer["job_id"] is None and answer["error"] == (
        "freeze_plan is filled in by the run and cannot be set on this hosted dashboard; "
        "remove it and choose what to freeze with freeze."
    )
    abuse.answers(client)
