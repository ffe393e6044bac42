"""Issue 20, what a visitor's work may reach and leave behind, through a real hosted server
(the fixtures of test_bad_input_hosted.py: FINETUNE_HOSTED=1, the host's HF_TOKEN set, the
fake Hub): the host's token through a library (trackio), heavy actions in a web worker, the
upload's key in published and downloaded files, downloads never removed, runs nobody can
delete. The page's own events are called over HTTP. Each attack gets its sentence, the server
answers other visitors meanwhile, its memory stays within abuse.SERVER_GROWTH_MB, and
nothing is read or written outside the policy.

The tests share one trained run and use it in order; the deletion test deletes it, and the
expiry test, last, moves the clock three days on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import abuse
import hostile
import pytest
import test_bad_input_hosted as base
from gradio_client import Client

from finetune_core import runs
from finetune_core.host import retention
from finetune_core.jobs import visitor_env

hosted_server, visitor, uploaded = base.hosted_server, base.visitor, base.uploaded  # fixtures
HOST_TOKEN = base.HOST_TOKEN
MODEL, DATA = "Model (Hub id or local folder)", "Dataset (Hub id, file or folder)"


def host_trackio() -> Path:
    return Path(os.environ["HF_HOME"]) / "trackio"  # where trackio writes for the host


@pytest.fixture(autouse=True)
def nothing_outside(hosted_server):
    """No attack here writes outside the runs folder (the host's files beside the test's;
    the visitor's own files, which the tests write to upload them, aside)."""

    def files() -> set[str]:
        mine = str(hosted_server["tmp"])
        return {p for p in hostile.snapshot(hosted_server["outside"].parent) if mine not in p}

    before = files()
    yield
    assert files() == before


@pytest.fixture(scope="module")
def trained(hosted_server, visitor, fake_hub):
    """A run the page trained (over HTTP) on its own upload, logging to trackio."""
    abuse.wait_idle()
    data = hosted_server["tmp"] / "mine.csv"
    data.write_bytes(hostile.csv_bytes(24))
    upload, _ = base.upload(visitor, data)
    before = hostile.snapshot(host_trackio())
    fake_hub.reset_requests()
    values = abuse.event_values(
        visitor,
        "do_train",
        **{MODEL: hosted_server["bert"], DATA: upload, "Epochs": 1, "Max length (text)": 16},
        **{"Experiment trackers": ["trackio"], "Log every N steps": 1},
    )
    out = visitor.predict(*values, api_name="/do_train")
    note = next(o for o in out if isinstance(o, str) and "Started" in o)
    run = runs.runs_root() / re.search(r"Started (\S+?)[.(<]", note).group(1).strip()
    status = abuse.wait_file_state(run, ("completed", "failed", "stopped"))
    assert status["state"] == "completed", status
    return {
        "run": run,
        "upload": Path(upload),
        "bearers": fake_hub.bearers,
        "trackio_before": before,
        "pid": status["pid"],
    }


def test_visitor_runs_have_no_host_credential_in_reach(trained, monkeypatch):
    """trackio calls huggingface_hub.get_token() itself, and sent the host's HF_TOKEN to the
    Hub twice. A visitor's run is its own process whose environment holds no host secret."""
    assert trained["pid"] != os.getpid()  # trained in its own process
    assert not [b for b in trained["bearers"] if b[2] == HOST_TOKEN], trained["bearers"]
    assert list((trained["run"] / "trackio").glob("*.db")), "trackio's records are in the run"
    assert hostile.snapshot(host_trackio()) == trained["trackio_before"]
    # the environment itself: even with the host logged in every way, the child finds nothing
    home = Path(os.environ["HF_HOME"])
    (home / "token").write_text(HOST_TOKEN)
    for name, value in {"WANDB_API_KEY": "w-secret", "OAUTH_CLIENT_SECRET": "o-secret"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", HOST_TOKEN)
    try:
        probe = "import huggingface_hub as h, os; print(h.get_token(), os.environ.get('HF_HOME'))"
        for token, expected in ((None, "None"), ("hf_visitor", "hf_visitor")):
            private = visitor_env.private_dir()
            child_env = visitor_env.build(token, private)
            assert not {"WANDB_API_KEY", "OAUTH_CLIENT_SECRET", "HUGGING_FACE_HUB_TOKEN"} & set(
                child_env
            )
            assert HOST_TOKEN not in "".join(child_env.values())
            got = subprocess.run(
                [sys.executable, "-c", probe], env=child_env, capture_output=True, text=True
            )
            assert got.stdout.split()[0] == expected, got
            assert got.stdout.split()[1].startswith(str(private))
            visitor_env.remove(private)
    finally:
        (home / "token").unlink()


def test_heavy_actions_wait_their_turn_in_the_queue(trained, hosted_server, visitor, uploaded):
    """An ONNX export took 14.4 GB and 187 s in a web worker while another visitor waited.
    Export and Predict are jobs of the queue: behind a running run they wait, the page's
    events return at once, and each runs in its own process when its turn comes."""
    before = abuse.rss_mb()
    blocker = Client(hosted_server["url"], verbose=False)
    long = blocker.predict(
        base.config(hosted_server["bert"], uploaded["good"], epochs=500), api_name="/start_run"
    )
    abuse.wait_status(blocker, long["job_id"], ("running",))
    _, note, _ = visitor.predict(None, True, api_name="/_onnx")
    assert "Exporting to ONNX (checked against PyTorch): waiting in the queue, position 1" in note
    _, note, _ = visitor.predict(None, "good great love", None, api_name="/_try")
    assert "Predicting: waiting in the queue, position 2" in note
    _, refused, _ = visitor.predict(None, False, api_name="/_onnx")  # a third: over the cap
    assert "You already have 2 jobs waiting in the queue" in refused
    abuse.answers(blocker)
    blocker.predict(long["job_id"], api_name="/stop_run")
    probs = archive = None
    deadline = time.monotonic() + 240
    while probs is None or archive is None:
        assert time.monotonic() < deadline, "the actions did not finish"
        time.sleep(0.5)
        got_probs, _, got_archive, export_note, *_ = visitor.predict(api_name="/_tick")
        if isinstance(got_probs, dict) and got_probs.get("confidences"):
            probs = got_probs
        if isinstance(got_archive, str) and got_archive.endswith(".zip"):
            archive, figures = got_archive, export_note
    assert {c["label"] for c in probs["confidences"]} == {"pos", "neg"}
    assert "checked on" in figures and "<pre>model" in figures
    with zipfile.ZipFile(archive) as zipped:
        assert {"model.onnx", "model_int8.onnx", "export.json"} <= set(zipped.namelist())
    work = [p for p in retention.exports_of(trained["run"]).iterdir() if p.is_dir()]
    assert len(work) == 2 and all((p / "worker.log").exists() for p in work)  # own processes
    assert abuse.rss_mb() - before < abuse.SERVER_GROWTH_MB


def test_an_upload_folder_is_named_nowhere_a_visitor_can_download(trained, visitor):
    """The model card and the checkpoint push's config held the upload's server path, the
    only key to it. A download names the dataset by its file name; one zip per saved model."""
    first = visitor.predict(None, api_name="/_download")[0]["value"]  # gradio's own copy
    second = visitor.predict(None, api_name="/_download")[0]["value"]
    zips = list(retention.exports_of(trained["run"]).glob("*.zip"))
    assert len([z for z in zips if z.name.endswith("-model.zip")]) == 1  # made once, reused
    key = trained["upload"].parent.name  # the random folder name
    for path in (first, second):
        with zipfile.ZipFile(path) as zipped:
            for name in zipped.namelist():
                assert key.encode() not in zipped.read(name), name
            assert "- Dataset: `mine.csv`" in zipped.read("README.md").decode()


def test_a_visitor_deletes_a_run_and_what_it_alone_used(trained, hosted_server, visitor):
    """Nobody could delete the 200 run folders through the API. A visitor deletes their own
    finished runs (page and script API), with the upload, exports and trackio records they
    alone used; never a running one, never another visitor's."""
    owner, other = (Client(hosted_server["url"], verbose=False) for _ in range(2))
    shared = str(trained["upload"])  # one upload, read by the page's run and these two
    made = [
        owner.predict(base.config(hosted_server["bert"], shared, epochs=500), api_name="/start_run")
        for _ in range(2)
    ]
    abuse.wait_status(owner, made[0]["job_id"], ("running",))
    refused = owner.predict(made[0]["job_id"], api_name="/delete_run")
    assert refused == {
        "deleted": False,
        "error": f"Run {made[0]['run']} is running; stop it first.",
    }
    for job in made:
        owner.predict(job["job_id"], api_name="/stop_run")
        abuse.wait_status(owner, job["job_id"], ("stopped", "failed"))
    nope = other.predict(made[0]["job_id"], api_name="/delete_run")
    assert nope == {"deleted": False, "error": "No such run for this session."}
    assert owner.predict(made[0]["job_id"], api_name="/delete_run")["deleted"] is True
    assert not (runs.runs_root() / made[0]["run"]).exists() and trained["upload"].exists()
    assert made[0]["job_id"] not in {r["job_id"] for r in owner.predict(api_name="/my_runs")}
    assert owner.predict(made[1]["job_id"], api_name="/delete_run")["deleted"] is True
    # the page's run was the last to read the upload: deleting it takes the upload along
    run = trained["run"]
    visitor.predict(api_name="/listing")  # the page lists its runs first (Refresh)
    _, _, note = visitor.predict([run.name], True, api_name="/delete")
    assert "Deleted 1 run(s)." in note, note
    assert not run.exists() and not retention.exports_of(run).exists()
    assert not trained["upload"].parent.exists()
    abuse.answers(other)


def test_uploads_and_downloads_expire_unless_a_run_reads_them(hosted_server, visitor, uploaded):
    busy = Client(hosted_server["url"], verbose=False)
    spare = hosted_server["tmp"] / "spare.csv"
    spare.write_bytes(hostile.csv_bytes())
    unused = retention.upload_of(base.upload(visitor, spare)[0])
    active = busy.predict(
        base.config(hosted_server["bert"], uploaded["good"], epochs=500), api_name="/start_run"
    )
    old = retention.exports_root() / "gone-0123456789ab" / "old-model.zip"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"zip")
    try:
        retention.sweep(force=True, now=time.time() + 3 * 86400)  # three days later
        assert not unused.exists() and not old.exists()
        assert retention.upload_of(uploaded["good"]).exists()  # a queued/running run reads it
    finally:
        busy.predict(active["job_id"], api_name="/stop_run")
    abuse.wait_status(busy, active["job_id"], ("stopped", "failed"))
