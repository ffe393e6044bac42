"""Starting jobs: every check before anything is written (a refused start leaves no folder),
a queued run is started, never resumed, and the trainer records its own pid."""

import os

import pytest

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RunError
from finetune_core.jobs.manager import JobManager
from finetune_core.train import run as train

DEAD_PID = 2**22 + 12345


def config(tiny_bert, text_csv, out=None, **extra):
    data = {"model": str(tiny_bert), "dataset": str(text_csv), "max_length": 16, **extra}
    return RunConfig.from_dict({**data, "output_dir": str(out) if out else None})


def snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"processes": 0}, "processes must be a whole number between 1 and 64"),
        ({"processes": "many"}, "processes must be a whole number"),
        ({"processes": 2, "accelerate_config": "/no/such/file.yaml"}, "does not exist"),
        ({"processes": 2, "accelerate_config": "RUN_YAML"}, "is not an accelerate config"),
        ({"processes": 2, "accelerate_config": "BINARY"}, "is not an accelerate config"),
    ],
)
def test_a_refused_start_creates_nothing(
    tiny_bert, text_csv, tmp_path, monkeypatch, kwargs, message
):
    monkeypatch.setenv("FINETUNE_RUNS_DIR", str(tmp_path / "runs"))
    files = {"RUN_YAML": tmp_path / "run.yaml", "BINARY": tmp_path / "blob.bin"}
    files["RUN_YAML"].write_text("model: x\ndataset: y\n")  # YAML, but a run config
    files["BINARY"].write_bytes(bytes(range(256)))
    if kwargs.get("accelerate_config") in files:
        kwargs = {**kwargs, "accelerate_config": str(files[kwargs["accelerate_config"]])}
    manager = JobManager(max_concurrent=1)
    for out in (tmp_path / "asked" / "run", None):  # an output_dir, and the default folder
        with pytest.raises(RunError, match=message):
            manager.start(config(tiny_bert, text_csv, out), "owner", **kwargs)
    assert not (tmp_path / "asked").exists() and not (tmp_path / "runs").exists()
    assert manager.jobs_of("owner") == []


def test_a_start_into_a_folder_with_files_leaves_it_untouched(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="already holds files"):
        JobManager(max_concurrent=1).start(config(tiny_bert, text_csv, out), "owner")
    assert snapshot(out) == ["notes.txt"]


def test_an_accelerate_config_is_accepted(tiny_bert, text_csv, tmp_path):
    """The check knows a real accelerate config (the job itself is cancelled while queued)."""
    acc = tmp_path / "acc.yaml"
    acc.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_CPU\n")
    manager = JobManager(max_concurrent=1)
    blocker = manager.start(config(tiny_bert, text_csv, tmp_path / "a", epochs=50), "owner")
    try:
        job = manager.start(
            config(tiny_bert, text_csv, tmp_path / "b"),
            "owner",
            processes=2,
            accelerate_config=str(acc),
        )
        assert manager.queue_position(job) == 1
        status = runs.read_status(job.run_dir)
        assert status.state == "queued"
        assert runs.RunDir(job.run_dir).read_request()["output_dir"] == str(tmp_path / "b")
        manager.stop(job.id, "owner")
    finally:
        manager.stop(blocker.id, "owner")
        blocker.thread.join(120)


def queued_dir(cfg, path):
    """What jobs.start leaves for a run it queued: the request and status "queued", written
    by another process (the dashboard) whose pid is not the trainer's."""
    rd = runs.RunDir(path)
    rd.create()
    runs.RunWriter(rd).queue(cfg.to_dict())
    rd.write_json(rd.status_path, {**rd.read_status(), "pid": DEAD_PID, "process_started": None})
    return rd


def test_the_trainer_records_its_own_pid(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = config(tiny_bert, text_csv, out, epochs=1, batch_size=8)
    rd = queued_dir(cfg, out)
    seen = []
    result = train.run(
        cfg,
        run_dir=rd,
        on_phase=lambda *a: seen.append(runs.read_status(out)),
        release_memory=False,
    )
    assert result.state == "completed"
    assert seen and all(s.pid == os.getpid() and s.state == "running" for s in seen)
    assert rd.read_status()["pid"] == os.getpid()


def test_a_queued_run_is_started_and_only_a_queued_run(tiny_bert, text_csv, tmp_path):
    cfg = config(tiny_bert, "no-such-org/no-such-data", tmp_path / "q", epochs=1)
    rd = queued_dir(cfg, tmp_path / "q")
    rd.write_json(rd.status_path, {**rd.read_status(), "state": "completed"})
    with pytest.raises(RunError, match="is not a queued run"):
        train.run(cfg, run_dir=rd, release_memory=False)
    assert rd.read_status()["state"] == "completed"  # refused before it wrote anything

    from finetune_core.cli import commands as cli

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["train", "--start", str(empty), "--quiet"]) == cli.EXIT_FAIL
    assert list(empty.iterdir()) == []


def test_the_run_never_changes_the_config_it_was_given(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = config(tiny_bert, text_csv, out, epochs=1, batch_size=8, freeze="backbone")
    before = cfg.to_dict()
    train.run(cfg, release_memory=False)
    assert cfg.to_dict() == before
    saved = runs.RunDir(out).read_config()
    search = runs.RunDir(out).read_status()["learning_rate_search"]  # null rate: searched
    assert saved["learning_rate"] == search["chosen"] and saved["num_labels"] == 3
    assert saved["label_names"] and saved["text_column"] == "review_body"
    with pytest.raises(FinetuneError, match="already completed"):
        train.run(None, resume_dir=out, release_memory=False)
