"""Export of a finished run (zip, push to the Hub) and checkpoints pushed while training runs.

Everything goes to the fake Hub; the token is always the user's own, and never lands in a file.
"""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import huggingface_hub as hh
import pytest
from huggingface_hub.errors import RepositoryNotFoundError

from finetune_core import export
from finetune_core.config import RunConfig
from finetune_core.errors import ConfigError, HubError, RunError
from finetune_core.runs import RunDir, RunWriter, last_checkpoint
from finetune_core.train import checkpoint_push
from finetune_core.train import run as train

TOKEN = "hf_test_token"
TINY = {"epochs": 1, "batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3}


def config(tiny_bert, text_csv, out: Path, **extra) -> RunConfig:
    return RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(text_csv), "output_dir": str(out), **TINY, **extra}
    )


@pytest.fixture(scope="module")
def run_dir(tiny_bert, text_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    assert train.run(config(tiny_bert, text_csv, out)).state == "completed"
    return out


def stored_files(hub, repo_id: str) -> dict[str, bytes]:
    return {p: f.source.read_bytes() for p, f in hub.repos[("model", repo_id)].files.items()}


def assert_no_token(paths) -> None:
    for path in paths:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


# ---- push a finished model -------------------------------------------------------------
def test_push_uploads_the_model_folder_byte_identical(run_dir, fake_hub):
    url = export.push_to_hub(run_dir, "fx-export/tiny", TOKEN)
    assert url == f"{fake_hub.url}/fx-export/tiny" and TOKEN not in url
    model = run_dir / "model"
    local = {p.name for p in model.iterdir() if p.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= local
    assert {"tokenizer_config.json"} <= local
    stored = stored_files(fake_hub, "fx-export/tiny")
    assert set(stored) == local
    for name in local:
        downloaded = hh.hf_hub_download("fx-export/tiny", name, token=TOKEN)
        assert Path(downloaded).read_bytes() == (model / name).read_bytes(), name
    assert all(TOKEN.encode() not in data for data in stored.values())
    assert_no_token(run_dir.rglob("*"))
    with pytest.raises(RepositoryNotFoundError):  # private by default
        hh.model_info("fx-export/tiny", token=False)
    # a bare name goes to the token owner's account; pushing again reuses the repo
    assert export.push_to_hub(run_dir, "tiny-bare", TOKEN).endswith("/test-user/tiny-bare")
    assert export.push_to_hub(run_dir, "tiny-bare", TOKEN).endswith("/test-user/tiny-bare")


def test_push_without_a_token_never_uses_the_hosts(run_dir, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the host's token: must not be used for a user
    fake_hub.reset_requests()
    for token in (None, ""):
        with pytest.raises(HubError, match="token with write access"):
            export.push_to_hub(run_dir, "fx-export/host-token", token)
    assert fake_hub.requests == [] and ("model", "fx-export/host-token") not in fake_hub.repos


def test_rejected_token_and_bad_names_give_one_sentence(run_dir, fake_hub, tmp_path):
    with pytest.raises(HubError) as err:
        export.push_to_hub(run_dir, "fx-export/refused", "hf_rejected_token_0000")
    text = str(err.value)
    assert text == (
        "The Hub refused the push to fx-export/refused (401); use a token with write access."
    )
    for name in ("", "a b", "a/b/c", "../x"):
        with pytest.raises(HubError, match="owner/name"):
            export.push_to_hub(run_dir, name, TOKEN)
    with pytest.raises(RunError, match="no saved model"):
        export.push_to_hub(tmp_path, "fx-export/empty", TOKEN)


def test_unreachable_hub_is_one_sentence(run_dir, fake_hub, monkeypatch):
    monkeypatch.setattr(hh.constants, "ENDPOINT", fake_hub.closed_url())
    with pytest.raises(HubError) as err:
        export.push_to_hub(run_dir, "fx-export/offline", TOKEN)
    assert str(err.value) == (
        "The Hub could not be reached for the push to fx-export/offline (ConnectError)."
    )


def test_zip_model_holds_the_model_folder(run_dir, tmp_path):
    path = export.zip_model(run_dir)
    model = run_dir / "model"
    with zipfile.ZipFile(path) as archive:
        names = {n for n in archive.namelist() if not n.endswith("/")}
        assert names == {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()}
        for name in names:
            assert archive.read(name) == (model / name).read_bytes(), name
    assert path.name == f"{run_dir.name}-model.zip"
    with pytest.raises(RunError, match="no saved model"):
        export.zip_model(tmp_path)


# ---- checkpoints pushed as training goes ---------------------------------------------------
def test_push_checkpoints_to_is_validated(tiny_bert, text_csv, tmp_path):
    for good in ("owner/name", "name", "me/model-v2.1"):
        assert config(tiny_bert, text_csv, tmp_path, push_checkpoints_to=good)
    for bad in ("a b", "a/b/c", "/name", "owner/", "x--y", "a..b"):
        with pytest.raises(ConfigError) as err:
            config(tiny_bert, text_csv, tmp_path, push_checkpoints_to=bad)
        assert str(err.value) == (
            f"push_checkpoints_to must be a Hub repo id such as 'owner/name' or 'name', "
            f"not '{bad}'."
        )


def test_checkpoints_are_pushed_while_training(tiny_bert, text_csv, tmp_path, fake_hub):
    out = tmp_path / "run"
    cfg = config(
        tiny_bert,
        text_csv,
        out,
        save_steps=2,
        push_checkpoints_to="fx-ckpt/live",
        freeze="backbone",
    )
    fake_hub.reset_requests()
    assert train.run(cfg, token=TOKEN).state == "completed"

    status = json.loads((out / "status.json").read_text())
    newest = last_checkpoint(out)
    step = int(newest.name.split("-")[1])
    assert status["pushed_checkpoint"] == step and status["push_error"] is None
    commits = [p for m, p in fake_hub.requests if m == "POST" and "/commit/" in p]
    assert 1 <= len(commits) <= step // 2
    assert hh.model_info("fx-ckpt/live", token=TOKEN).private is True

    def fetch(name: str) -> bytes:
        return Path(hh.hf_hub_download("fx-ckpt/live", name, token=TOKEN)).read_bytes()

    state = json.loads(fetch("last-checkpoint/trainer_state.json"))
    assert state["global_step"] == step
    # a frozen run's checkpoint holds the trainable weights only (finetune_core/train/trainer.py)
    weights = fetch("last-checkpoint/trainable.safetensors")
    assert weights == (newest / "trainable.safetensors").read_bytes()
    metrics = [json.loads(line) for line in fetch("run/metrics.jsonl").splitlines()]
    assert any("loss" in r for r in metrics) and max(r.get("step", 0) for r in metrics) <= step
    published = json.loads(fetch("run/config.json"))
    assert published["push_checkpoints_to"] == "fx-ckpt/live"
    # a local dataset and model by their names only: an upload's server path is its key
    assert (published["dataset"], published["model"]) == (text_csv.name, tiny_bert.name)
    assert published["output_dir"] is None
    folders = (str(text_csv.parent).encode(), str(tiny_bert).encode(), str(out).encode())
    stored = stored_files(fake_hub, "fx-ckpt/live")
    assert not [n for n, data in stored.items() if any(f in data for f in folders)]
    assert "config.json" not in stored_files(fake_hub, "fx-ckpt/live")  # root kept for a model
    assert all(TOKEN.encode() not in d for d in stored_files(fake_hub, "fx-ckpt/live").values())
    assert_no_token(out.rglob("*"))
    assert not (out / checkpoint_push.STAGING).exists()


def test_checkpoint_push_without_a_token_is_refused(
    tiny_bert, text_csv, tmp_path, fake_hub, monkeypatch
):
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the host's token is never used for a run
    cfg = config(tiny_bert, text_csv, tmp_path / "run", push_checkpoints_to="fx-ckpt/none")
    fake_hub.reset_requests()
    with pytest.raises(HubError) as err:
        train.run(cfg)
    assert str(err.value) == checkpoint_push.NEEDS_TOKEN
    assert not [r for r in fake_hub.requests if r[0] == "POST"]
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and status["error"] == checkpoint_push.NEEDS_TOKEN
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_failed_upload_is_reported_and_training_goes_on(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = config(tiny_bert, text_csv, out, save_steps=3, push_checkpoints_to="fx-ckpt/refused")
    assert train.run(cfg, token="hf_rejected_token_0000").state == "completed"
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "completed" and status["pushed_checkpoint"] is None
    assert status["push_error"] == (
        "The Hub refused the checkpoint push to fx-ckpt/refused (401); "
        "use a token with write access."
    )
    assert (out / "model" / "model.safetensors").exists()
    assert b"hf_rejected_token_0000" not in (out / "status.json").read_bytes()


def test_one_upload_at_a_time_and_the_newest_supersedes(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    run.create()
    pusher = checkpoint_push.CheckpointPusher(RunWriter(run), "fx/unit", "hf_unit_token")
    started, release, uploaded = threading.Event(), threading.Event(), []

    def slow_upload(step, staged):
        assert (staged / "last-checkpoint" / "weights.bin").read_text() == str(step)
        started.set()
        release.wait(10)
        uploaded.append(step)

    monkeypatch.setattr(pusher, "_upload", slow_upload)

    def save(step: int) -> Path:
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_text(str(step))
        return folder

    pusher.submit(2, save(2))
    assert started.wait(10)
    pusher.submit(4, save(4))  # waits behind the running upload...
    pusher.submit(6, save(6))  # ...and is replaced by the newer one
    staged = sorted(p.name for p in (run.path / checkpoint_push.STAGING).iterdir())
    assert staged == ["step-2", "step-6"]
    release.set()
    pusher.close()
    assert uploaded == [2, 6] and pusher.pushed_step == 6 and pusher.error is None
    status = json.loads(run.status_path.read_text())
    assert status["pushed_checkpoint"] == 6 and status["push_error"] is None
    assert not (run.path / checkpoint_push.STAGING).exists()
    assert (tmp_path / "checkpoints" / "checkpoint-2" / "weights.bin").exists()  # links only
