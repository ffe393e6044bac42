"""Runs outlive the server: jobs rebuilt from the runs folder, ownership kept in it (hashed),
runs left by a dead process marked interrupted, Resume and Train more (issue 21, items 2-4).

A "restart" here is what a restart leaves: a new JobManager that knows nothing, and run
folders on disk (a run whose process died says "running" with a pid that is gone)."""

from __future__ import annotations

import json
import threading

import pytest

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import RunError
from finetune_core.jobs import continuing, ownership, restore
from finetune_core.jobs.manager import JobManager
from finetune_core.train import run as train

DEAD_PID = 2**22 + 12345
ALICE, BOB = "a" * 32, "b" * 32  # browser keys (random hex in the page)
FAST = {"batch_size": 8, "max_length": 16, "logging_steps": 1, "seed": 3, "save_steps": 2}


def config(tiny_bert, text_csv, out, **extra) -> RunConfig:
    data = {"model": str(tiny_bert), "dataset": str(text_csv), **FAST, **extra}
    return RunConfig.from_dict({**data, "output_dir": str(out) if out else None})


def finished(manager: JobManager, job, timeout: float = 180.0):
    job.thread.join(timeout)
    assert not job.thread.is_alive(), "the job did not end"
    return runs.read_status(job.run_dir)


def killed(path) -> None:
    """What kill -9 of the server leaves: the run still says running, its pid is gone."""
    rd = runs.RunDir(path)
    status = runs.RunStatus.from_dict(rd.read_status())
    rd.write_json(rd.status_path, status.with_(state="running", pid=DEAD_PID).to_dict())


@pytest.fixture()
def hosted(monkeypatch, tmp_path, text_csv):
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    monkeypatch.setenv("FINETUNE_ALLOWED_PATHS", str(text_csv.parent))
    monkeypatch.setenv("FINETUNE_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_ownership_is_kept_hashed_in_the_folder_and_survives_a_restart(tiny_bert, text_csv, hosted):
    before = JobManager(max_concurrent=1)
    job = before.start(config(tiny_bert, text_csv, None, epochs=1), ALICE)
    assert finished(before, job).state == "completed"
    for path in job.run_dir.rglob("*"):  # the key itself is written nowhere
        if path.is_file():
            assert ALICE.encode() not in path.read_bytes(), path
    stored = json.loads((job.run_dir / runs.OWNER).read_text())
    assert stored["owner"] == ownership.digest(ALICE) and stored["job_id"] == job.id

    after = JobManager(max_concurrent=1)  # the server came back: it knows nothing ...
    assert restore.rebuild(after, hosted) == 1  # ... until it reads the runs folder
    assert [j.id for j in after.jobs_of(ALICE)] == [job.id]  # same id: a saved id still works
    assert after.get(job.id, ALICE).run_dir == job.run_dir
    assert after.jobs_of(BOB) == [] and after.get(job.id, BOB) is None
    assert after.jobs_of(ownership.digest(ALICE)) == []  # knowing the hash is not the key
    assert restore.rebuild(after, hosted) == 0  # a second pass adds nothing


def test_a_run_left_by_a_dead_process_comes_back_interrupted(tiny_bert, text_csv, hosted):
    before = JobManager(max_concurrent=1)
    job = before.start(config(tiny_bert, text_csv, None, epochs=1), ALICE)
    finished(before, job)
    rd = runs.RunDir(job.run_dir)
    rd.write_json(rd.status_path, {**rd.read_status(), "step": 3, "max_steps": 8})
    killed(job.run_dir)

    after = JobManager(max_concurrent=1)
    restore.rebuild(after, hosted)
    written = rd.read_status()  # marked on disk, not only read that way
    assert written["state"] == "interrupted" and "interrupted at step 3 of 8" in written["error"]
    end = runs.records.last_end(runs.read_metrics(job.run_dir))
    assert end is not None and (end.state, end.step) == ("interrupted", 3)
    assert after.get(job.id, ALICE) is not None


def test_locally_the_single_user_owns_every_run(tiny_bert, text_csv, tmp_path, monkeypatch):
    monkeypatch.delenv("FINETUNE_HOSTED", raising=False)
    root = tmp_path / "runs"
    cli = train.run(config(tiny_bert, text_csv, root / "from-the-cli", epochs=1))  # no owner
    assert cli.state == "completed"
    manager = JobManager(max_concurrent=1)
    job = manager.start(config(tiny_bert, text_csv, root / "from-a-tab", epochs=1), ALICE)
    finished(manager, job)
    assert manager.get(job.id, BOB) is job  # another tab, the same person

    after = JobManager(max_concurrent=1)
    restore.rebuild(after, root)
    names = sorted(j.run_dir.name for j in after.jobs_of(BOB))
    assert names == ["from-a-tab", "from-the-cli"]


def test_resume_continues_the_same_run_and_its_metrics(tiny_bert, text_csv, hosted):
    """A run killed mid-way (and one stopped) continues in its folder from its checkpoint:
    one run, its steps logged once each, one end line, the owner kept."""
    out = hosted / "resumed"
    stop = threading.Event()

    def stop_at_5(step, max_steps, epoch):
        if step == 5:
            stop.set()

    cfg = config(tiny_bert, text_csv, out, epochs=3)
    assert train.run(cfg, stop_event=stop, on_progress=stop_at_5).state == "stopped"
    stopped_eval = json.loads((out / "eval.json").read_text())  # a stopped run shows numbers
    assert 0 <= stopped_eval["accuracy"] <= 1
    ownership.record(out, ownership.digest(ALICE), "old-job-id")
    killed(out)  # and then the server died while it said running

    manager = JobManager(max_concurrent=1)
    restore.rebuild(manager, hosted)
    (old,) = manager.jobs_of(ALICE)
    assert runs.read_status(out).state == "interrupted"
    with pytest.raises(RunError, match="starts from a completed run"):
        continuing.train_more(manager, old, ALICE)
    new = continuing.resume(manager, old, ALICE)
    assert new.run_dir == out and manager.jobs_of(ALICE) == [new]  # it takes the old one's place
    status = finished(manager, new)
    assert status.state == "completed" and status.step == status.max_steps
    logged = [r["step"] for r in runs.read_metrics(out) if "loss" in r]
    assert logged == list(range(1, status.max_steps + 1))  # each step once, in order
    ends = [r for r in runs.read_metrics(out) if r.get("event") == "end"]
    assert [e["state"] for e in ends] == ["completed"]
    assert ownership.read(out).digest == ownership.digest(ALICE)
    assert ownership.read(out).job_id == new.id
    with pytest.raises(RunError, match="Train more"):
        continuing.resume(manager, new, ALICE)


def test_train_more_starts_a_new_run_from_the_weights(tiny_bert, text_csv, hosted, monkeypatch):
    from finetune_core.ui import events

    manager = JobManager(max_concurrent=1)
    monkeypatch.setattr(events, "MANAGER", manager)
    first = manager.start(config(tiny_bert, text_csv, None, epochs=1), ALICE)
    assert finished(manager, first).state == "completed"
    resolved = runs.RunDir(first.run_dir).read_config()

    more = continuing.train_more(manager, first, ALICE, epochs=2)
    assert more.run_dir != first.run_dir
    assert finished(manager, more).state == "completed"
    asked = runs.RunDir(more.run_dir).read_request()
    assert asked["model"] == str((first.run_dir / "model").resolve())
    assert asked["epochs"] == 2 and asked["learning_rate"] == resolved["learning_rate"]
    assert asked["label_names"] == resolved["label_names"]
    assert sorted(j.id for j in manager.jobs_of(ALICE)) == sorted([first.id, more.id])
    assert manager.jobs_of(BOB) == []
    d, form, _ = events.reattach(ALICE)  # a reload follows the new run ...
    assert d.run == more.run_dir.name and d.run_state == "completed"
    assert form.model == str(tiny_bert)  # ... and the form a model it can load, not a run folder


def test_the_script_api_resumes_and_trains_more(tiny_bert, text_csv, hosted, monkeypatch):
    import types

    from finetune_core.ui import api

    manager = JobManager(max_concurrent=1)
    monkeypatch.setattr(api, "MANAGER", manager)
    mine, theirs = (types.SimpleNamespace(session_hash=h) for h in ("mine", "theirs"))
    job = manager.start(config(tiny_bert, text_csv, None, epochs=1), "api-mine")
    finished(manager, job)

    assert "already ended" in api.stop_run(job.id, mine)["error"]  # never "stopping"
    assert "Train more" in api.resume_run(job.id, mine)["error"]  # completed: nothing to resume
    assert api.train_more(job.id, 1, theirs)["error"] == "No such run for this session."
    more = api.train_more(job.id, 1, mine)
    assert more["error"] is None and more["run"] != job.run_dir.name
    new = manager.get(more["job_id"], "api-mine")
    assert finished(manager, new).state == "completed"

    killed(new.run_dir)  # the server died while it trained; the API resumes it
    restarted = JobManager(max_concurrent=1)
    monkeypatch.setattr(api, "MANAGER", restarted)
    restore.rebuild(restarted, hosted)
    assert {r["state"] for r in api.my_runs(mine)} == {"completed", "interrupted"}
    assert api.my_runs(theirs) == []
    resumed = api.resume_run(more["job_id"], mine)
    assert resumed["error"] is None and resumed["run"] == more["run"]
    assert finished(restarted, restarted.get(resumed["job_id"], "api-mine")).state == "completed"
