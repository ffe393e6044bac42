"""The run directory's one owner (runs.py): its file names, the one status reader that every
reader uses, the bounded metrics-tail cache and checkpoint steps."""

import os
import re
import socket
import time
import types
from pathlib import Path

import pytest

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import RunError

RUNS = Path(runs.__file__).parent
PACKAGE = RUNS.parent
DEAD_PID = 2**22 + 12345  # above the kernel's pid limit: never a live process
# names only runs.py may spell ("config.json" is left out: model folders have one too)
RUN_DIR_NAMES = re.compile(
    r"""["'](status\.json|metrics\.jsonl|eval\.json|error\.log|launcher\.log|stop)["']"""
    r"""|f["']checkpoint-\{|checkpoint-\(\\d|/ ["']checkpoints["']|run_dir\) / ["']"""
)


def test_only_the_runs_package_spells_the_run_dir_file_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == RUNS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if RUN_DIR_NAMES.search(line) and "variant=" not in line:  # gr.Button(variant="stop")
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_only_the_writer_writes_status_and_metrics():
    """status.json, metrics.jsonl, config.json, request.json and eval.json have one writer
    (runs/writer.py): no other module touches their paths, so their keys and order of writes
    are decided in one place."""
    paths = re.compile(r"\.(status|metrics|config|request|eval)_path\b")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == RUNS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if paths.search(line) and ".exists()" not in line and "{run_dir." not in line:
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def held_by(rd: runs.RunDir, state: str = "running", **fields) -> None:
    """status.json as a process on this host left it."""
    status = runs.RunStatus(state=state, host=socket.gethostname(), **fields)
    rd.write_json(rd.status_path, status.to_dict())


def dead_run(root: Path, name: str = "dead") -> Path:
    """A run whose training process died without a word (kill -9, power cut)."""
    rd = runs.RunDir(root / name)
    rd.create()
    runs.RunWriter(rd).queue(RunConfig.from_dict({"model": "m", "dataset": "d"}).to_dict())
    held_by(rd, step=7, max_steps=20, pid=DEAD_PID, started=runs.now_iso())
    return rd.path


def test_every_reader_sees_a_dead_run_as_interrupted(tmp_path, monkeypatch, text_csv):
    """The page's poll, the script API (/run_status, /my_runs), the runs list and the CLI's
    reader all go through runs.read_status: none of them may show a dead run "running"."""
    from finetune_core.jobs import manager as jobs
    from finetune_core.ui import api, train_tab

    path = dead_run(tmp_path)
    status = runs.read_status(path)
    assert status.state == "interrupted" and not status.active and status.resumable
    assert status.error == f"interrupted at step 7 of 20: {runs.INTERRUPTED}"
    assert runs.read_run(path).state == "interrupted"
    assert [v.state for v in runs.list_runs(tmp_path)] == ["interrupted"]

    manager = jobs.JobManager(max_concurrent=1)
    monkeypatch.setattr(api, "MANAGER", manager)
    monkeypatch.setattr(train_tab, "MANAGER", manager)
    request = types.SimpleNamespace(session_hash="session")
    cfg = {"model": "no-such-org/no-such-model", "dataset": str(text_csv)}
    cfg = RunConfig.from_dict({**cfg, "output_dir": str(tmp_path / "job")})
    job = manager.start(cfg, "api-session")  # what /start_run does after its checks
    job.thread.join(120)  # the job ends (its model does not exist) ...
    rd = runs.RunDir(job.run_dir)
    held_by(rd, pid=DEAD_PID)  # ... as if its trainer had been killed
    assert api.my_runs(request) == [{"job_id": job.id, "run": "job", "state": "interrupted"}]
    assert api.run_status(job.id, request)["state"] == "interrupted"
    assert train_tab.poll("api-session", job.id, False, 0)["status"].state == "interrupted"
    assert rd.read_status()["state"] == "running"  # readers interpret; only the trainer writes


def test_a_reused_pid_or_a_silent_host_is_not_taken_for_the_trainer(tmp_path):
    """After a restart a container's pids start again (the dashboard is pid 1 again), and a
    Space comes back on another host: neither may leave an old run "running" forever."""
    rd = runs.RunDir(tmp_path / "run")
    rd.create()
    me = runs.status.identity()
    held_by(rd, pid=os.getpid(), process_started=me["process_started"])
    assert runs.read_status(rd.path).state == "running"  # this very process: alive
    if me["process_started"] is not None:  # Linux: a live pid that started at another time
        held_by(rd, pid=os.getpid(), process_started=me["process_started"] - 1)
        assert runs.read_status(rd.path).state == "interrupted"
    elsewhere = runs.RunStatus(state="running", host="another-host", pid=1)
    fresh = elsewhere.with_(updated=runs.now_iso())
    rd.write_json(rd.status_path, fresh.to_dict())
    assert runs.read_status(rd.path).state == "running"  # its heartbeat is recent
    rd.write_json(rd.status_path, elsewhere.with_(updated="2020-01-01T00:00:00Z").to_dict())
    assert runs.read_status(rd.path).state == "interrupted"


def test_a_live_run_stays_running_and_its_heartbeat_beats(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.status, "HEARTBEAT_SECONDS", 0.05)
    rd = runs.RunDir(tmp_path / "live")
    rd.create()
    writer = runs.RunWriter(rd)
    writer.start(step=0)
    try:
        status = runs.read_status(rd.path)
        assert status.state == "running" and status.pid == os.getpid()
        rd.write_json(rd.status_path, {**rd.read_status(), "updated": "2020-01-01T00:00:00Z"})
        deadline = time.monotonic() + 10
        while rd.read_status()["updated"].startswith("2020") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not rd.read_status()["updated"].startswith("2020")  # the heartbeat rewrote it
    finally:
        writer.finish("stopped")
    stamp = rd.read_status()["updated"]
    time.sleep(0.3)
    assert rd.read_status()["updated"] == stamp  # a finished run's heartbeat has stopped


def test_finish_writes_the_status_and_the_end_line_together(tmp_path):
    rd = runs.RunDir(tmp_path / "run")
    rd.create()
    writer = runs.RunWriter(rd)
    writer.queue({"model": "m", "dataset": "d"})
    writer.start()
    writer.progress(3, max_steps=9, epoch=0.333333, force=True)
    writer.log(runs.records.Log(3, 0.3333, 1.5, {"loss": 0.7}))
    writer.finish("stopped", seconds=2.0)
    status = runs.read_status(rd.path)
    assert (status.state, status.step, status.max_steps, status.phase) == ("stopped", 3, 9, None)
    lines = runs.read_metrics(rd.path)
    assert lines[-1] == {"event": "end", "state": "stopped", "step": 3, "time": 2.0}
    assert runs.records.last_end(lines) == runs.records.End("stopped", None, 3, 2.0)
    with pytest.raises(ValueError, match="not a final state"):
        writer.finish("running")
    with pytest.raises(TypeError):
        writer.note(learning_rat=0.1)  # a misspelt fact fails where it is written
    with pytest.raises(ValueError, match="unknown phase"):
        writer.phase("warming up")
    with pytest.raises(RunError, match="already has a request"):
        writer.queue({"model": "other"})  # the request is written once
    # resume: the end line and the lines past the checkpoint go; the charts continue
    writer.resume_from(2)
    assert runs.read_metrics(rd.path) == []
    assert rd.read_request() == {"model": "m", "dataset": "d"}


def test_the_writer_is_a_no_op_off_the_main_process(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    rd = runs.RunDir(tmp_path / "run")
    rd.create()
    writer = runs.RunWriter(rd)
    assert not writer.main
    writer.queue({"model": "m"})
    writer.start()
    writer.phase(runs.phases.LOADING_DATA)
    writer.progress(1, force=True)
    writer.note(device="cpu")
    writer.log(runs.records.Log(1, 0.1, 0.1, {"loss": 1.0}))
    writer.resolved({"model": "m"})
    writer.eval({"accuracy": 1.0})
    writer.finish("completed")
    assert list(rd.path.iterdir()) == []
    monkeypatch.setenv("RANK", "0")
    assert runs.RunWriter(rd).main


def test_status_keeps_what_it_does_not_know_and_drops_what_is_malformed(tmp_path):
    rd = runs.RunDir(tmp_path / "run")
    rd.create()
    rd.write_json(rd.status_path, {"state": "running", "step": "x", "baseline": {"f1": 0.5}})
    status = runs.RunStatus.from_dict(rd.read_status())
    assert status.step == 0 and status.extra == {"baseline": {"f1": 0.5}}
    runs.RunWriter(rd).note(device="cpu")  # a newer writer's key survives an older writer
    assert rd.read_status()["baseline"] == {"f1": 0.5} and rd.read_status()["device"] == "cpu"
    for bad in (None, [], "text", {"state": 3, "warnings": "x"}):
        assert runs.RunStatus.from_dict(bad).warnings == []


def test_metrics_tail_cache_is_bounded_and_incremental(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.read, "MAX_TAILS", 4)
    monkeypatch.setattr(runs.read, "TAILS", type(runs.read.TAILS)())
    folders = []
    for i in range(7):
        rd = runs.RunDir(tmp_path / f"r{i}")
        rd.create()
        rd.append_line(rd.metrics_path, {"step": 1, "loss": 1.0})
        folders.append(rd)
        assert runs.tail(rd.path) == [{"step": 1, "loss": 1.0}]
    assert len(runs.read.TAILS) == 4  # a long-lived dashboard does not keep every run it showed
    assert str(folders[-1].path.resolve()) in runs.read.TAILS
    assert str(folders[0].path.resolve()) not in runs.read.TAILS
    folders[-1].append_line(folders[-1].metrics_path, {"step": 2, "loss": 0.5})
    reader = runs.read.TAILS[str(folders[-1].path.resolve())]
    assert [r["step"] for r in runs.tail(folders[-1].path)] == [1, 2]
    assert runs.read.TAILS[str(folders[-1].path.resolve())] is reader  # reused, not re-read
    assert [r["step"] for r in runs.tail(folders[0].path)] == [1]  # evicted: read afresh


def test_checkpoint_steps_are_parsed_in_one_place(tmp_path):
    rd = runs.RunDir(tmp_path)
    for step, complete in ((3, True), (10, True), (12, False)):
        folder = rd.checkpoints_dir / runs.checkpoint_name(step)
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert rd.last_checkpoint().name == "checkpoint-10"  # 12 was never finished
    assert rd.checkpoint_step() == 10 and runs.RunDir(tmp_path / "none").checkpoint_step() == 0
    with pytest.raises(RunError, match="not a checkpoint folder"):
        runs.checkpoint_step(tmp_path / "checkpoint-x")


def test_json_readers_never_raise_on_a_bad_file(tmp_path):
    for text in ("", "{", "[1, 2]", "\xff"):
        (tmp_path / "x.json").write_text(text, errors="replace")
        assert runs.read_json(tmp_path / "x.json") is None
    assert runs.read_json(tmp_path / "missing.json") is None
    assert runs.read_json(tmp_path) is None  # a folder
