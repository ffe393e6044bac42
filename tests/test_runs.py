"""The run directory's one owner (runs.py): its file names, the one status reader that every
reader uses, the bounded metrics-tail cache and checkpoint steps."""

import os
import re
import types
from pathlib import Path

import pytest

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import RunError

PACKAGE = Path(runs.__file__).parent
DEAD_PID = 2**22 + 12345  # above the kernel's pid limit: never a live process
# names only runs.py may spell ("config.json" is left out: model folders have one too)
RUN_DIR_NAMES = re.compile(
    r"""["'](status\.json|metrics\.jsonl|eval\.json|error\.log|launcher\.log|stop)["']"""
    r"""|f["']checkpoint-\{|checkpoint-\(\\d|/ ["']checkpoints["']|run_dir\) / ["']"""
)


def test_only_runs_py_spells_the_run_dir_file_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "runs.py" and path.parent == PACKAGE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if RUN_DIR_NAMES.search(line) and "variant=" not in line:  # gr.Button(variant="stop")
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def dead_run(root: Path, name: str = "dead") -> Path:
    """A run whose training process died without a word (kill -9, power cut)."""
    rd = runs.RunDir(root / name)
    rd.create()
    rd.write_config(RunConfig.from_dict({"model": "m", "dataset": "d"}).to_dict())
    rd.write_status(state="running", pid=DEAD_PID)
    return rd.path


def test_every_reader_sees_a_dead_run_as_failed(tmp_path, monkeypatch, text_csv):
    """The page's poll, the script API (/run_status, /my_runs), the runs list and the CLI's
    reader all go through runs.read_status: none of them may show a dead run "running"."""
    from finetune_core.jobs import manager as jobs
    from finetune_core.ui import api, train_tab

    path = dead_run(tmp_path)
    assert runs.read_status(path)["state"] == "failed"
    assert runs.read_status(path)["error"] == runs.INTERRUPTED
    assert runs.read_run(path).state == "failed"
    assert [v.state for v in runs.list_runs(tmp_path)] == ["failed"]

    manager = jobs.JobManager(max_concurrent=1)
    monkeypatch.setattr(api, "MANAGER", manager)
    monkeypatch.setattr(train_tab, "MANAGER", manager)
    request = types.SimpleNamespace(session_hash="session")
    cfg = {"model": "no-such-org/no-such-model", "dataset": str(text_csv)}
    cfg = RunConfig.from_dict({**cfg, "output_dir": str(tmp_path / "job")})
    job = manager.start(cfg, "api-session")  # what /start_run does after its checks
    job.thread.join(120)  # the job ends (its model does not exist) ...
    rd = runs.RunDir(job.run_dir)
    rd.write_status(state="running", pid=DEAD_PID)  # ... as if its trainer had been killed
    assert api.my_runs(request) == [{"job_id": job.id, "run": "job", "state": "failed"}]
    assert api.run_status(job.id, request)["state"] == "failed"
    assert train_tab.poll("api-session", job.id, False, 0)["status"]["state"] == "failed"
    assert rd.read_status()["state"] == "running"  # readers interpret; only the trainer writes


def test_a_live_run_stays_running(tmp_path):
    rd = runs.RunDir(tmp_path / "live")
    rd.create()
    rd.mark_running(step=0)
    status = runs.read_status(rd.path)
    assert status["state"] == "running" and status["pid"] == os.getpid()


def test_metrics_tail_cache_is_bounded_and_incremental(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "MAX_TAILS", 4)
    monkeypatch.setattr(runs, "TAILS", type(runs.TAILS)())
    folders = []
    for i in range(7):
        rd = runs.RunDir(tmp_path / f"r{i}")
        rd.create()
        rd.append_metrics({"step": 1, "loss": 1.0})
        folders.append(rd)
        assert runs.tail(rd.path) == [{"step": 1, "loss": 1.0}]
    assert len(runs.TAILS) == 4  # a long-lived dashboard does not keep every run it showed
    assert str(folders[-1].path.resolve()) in runs.TAILS
    assert str(folders[0].path.resolve()) not in runs.TAILS
    folders[-1].append_metrics({"step": 2, "loss": 0.5})
    reader = runs.TAILS[str(folders[-1].path.resolve())]
    assert [r["step"] for r in runs.tail(folders[-1].path)] == [1, 2]
    assert runs.TAILS[str(folders[-1].path.resolve())] is reader  # reused, not re-read
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
