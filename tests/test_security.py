"""Hosting for others: local paths, pushes with the user's own token, remote code, the queue."""

import time

import pytest

from finetune_core import export, runs
from finetune_core.config import RunConfig
from finetune_core.errors import HubError
from finetune_core.jobs.manager import JobManager
from finetune_core.ui import common, train_tab


def test_hosted_dashboard_refuses_server_paths(monkeypatch, text_csv):
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    assert "not available on this hosted dashboard" in common.check_local_path("/etc")
    assert "not available" in common.check_local_path(str(text_csv))
    assert common.check_local_path("assets/demo/support_tickets.csv") is None
    assert common.check_local_path("sentence-transformers/all-MiniLM-L6-v2") is None
    assert common.check_local_path("org/hub-model") is None
    uploads = common.allowed_roots()[0] / "abc" / "data.csv"
    assert common.check_local_path(str(uploads)) is None
    values = {"model": "/etc", "dataset": str(text_csv), "epochs": 1}
    _, job_id, note = train_tab.start(None, values, None)
    assert job_id is None and "not available on this hosted dashboard" in note
    monkeypatch.delenv("FINETUNE_HOSTED")
    assert common.check_local_path(str(text_csv)) is None


def test_spaces_count_as_hosted(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/dashboard")
    assert common.hosted() and common.on_spaces()


def test_push_needs_the_users_own_token(tmp_path, monkeypatch):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    monkeypatch.setenv("HF_TOKEN", "hf_host_token_should_never_be_used")
    with pytest.raises(HubError, match="Log in or paste a Hugging Face token"):
        export.push_to_hub(tmp_path, "me/model", None)
    with pytest.raises(HubError, match="owner/name"):
        export.push_to_hub(tmp_path, "a/b/c", "hf_user_token")


def test_a_closed_tabs_queued_job_is_dropped(tiny_bert, text_csv, tmp_path):
    manager = JobManager(max_concurrent=1, queue_timeout=0.5)
    base = {
        "model": str(tiny_bert),
        "dataset": str(text_csv),
        "max_length": 16,
        "batch_size": 8,
        "logging_steps": 1,
    }
    long = manager.start(
        RunConfig.from_dict({**base, "epochs": 100, "output_dir": str(tmp_path / "a")}), "alice"
    )
    queued = manager.start(
        RunConfig.from_dict({**base, "epochs": 1, "output_dir": str(tmp_path / "b")}), "bob"
    )
    assert manager.queue_position(queued) == 1
    time.sleep(1.0)  # bob's tab is gone: no poll touches the manager for him
    manager.touch("alice")
    manager.stop(long.id, "alice")
    long.thread.join(60)
    deadline = time.monotonic() + 10
    while queued.state != "finished" and time.monotonic() < deadline:
        time.sleep(0.1)
    status = runs.read_json(tmp_path / "b" / "status.json")
    assert status["state"] == "failed" and "page was closed" in status["error"]
    assert queued.thread is None  # it never started


def test_which_token_is_sent(monkeypatch):
    """Locally HF_TOKEN keeps working; hosted, a visitor's own token or none (False: not the
    host's, which huggingface_hub would otherwise pick up from the environment)."""
    from huggingface_hub import constants

    from finetune_core.hub.net import resolve_token

    monkeypatch.setenv("HF_TOKEN", "hf_host")
    assert resolve_token(None) == "hf_host"
    assert resolve_token("hf_visitor") == "hf_visitor"
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)
    monkeypatch.delenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", raising=False)
    assert resolve_token(None) is False
    assert resolve_token("hf_visitor") == "hf_visitor"
    assert constants.HF_HUB_DISABLE_IMPLICIT_TOKEN is True  # nor implicitly, anywhere


def test_the_path_policy_is_off_locally_and_confines_when_hosted(monkeypatch, tmp_path):
    from finetune_core.errors import ConfigError, DataError
    from finetune_core.host import paths

    outside = tmp_path / "data.csv"
    outside.write_text("text,label\n")
    paths.check_source(str(outside))
    paths.check_output_dir(str(tmp_path / "run"))
    paths.check_data_files(str(tmp_path), {"train": ["/etc/passwd"]})
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    with pytest.raises(DataError, match="Local paths are not available"):
        paths.check_source(str(outside))
    with pytest.raises(DataError, match="Local paths are not available"):
        paths.check_source(str(paths.uploads_root()))  # every visitor's uploads at once
    with pytest.raises(ConfigError, match="output_dir cannot be chosen"):
        paths.check_output_dir(str(tmp_path / "run"))
    upload = paths.uploads_root() / "0123456789abcdef"
    upload.mkdir(parents=True, exist_ok=True)
    paths.check_source(str(upload / "data.csv"))
    paths.check_data_files(str(upload), {"train": [str(upload / "a" / "train.csv")]})
    for escape in ("/etc/passwd", str(upload / ".." / "other" / "x.csv"), "https://x.org/a.csv"):
        with pytest.raises(DataError, match="points outside itself"):
            paths.check_data_files(str(upload), {"train": [escape]})
    paths.check_data_files("org/data", {"train": ["hf://datasets/org/data@abc/train.csv"]})
    with pytest.raises(DataError, match="points outside itself"):
        paths.check_data_files("org/data", {"train": ["hf://datasets/org/other@abc/x.csv"]})


def test_a_model_readme_alias_bomb_is_not_expanded(tmp_path):
    """A model card's front matter is untrusted text: bounded, no aliases (else a few hundred
    bytes would take gigabytes to expand while the page waits for the card)."""
    import hostile

    from finetune_core.hub import model_cards

    readme = tmp_path / "README.md"
    readme.write_text(f"---\n{hostile.alias_bomb()}---\n# card\n")
    assert model_cards._front_matter(readme) == {}
    readme.write_text("---\nlicense: mit\n---\n# card\n")
    assert model_cards._front_matter(readme) == {"license": "mit"}
