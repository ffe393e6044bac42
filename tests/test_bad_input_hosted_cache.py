"""Hosted mode and the host's own Hugging Face cache, through a real server (the fixtures of
test_bad_input_hosted.py: FINETUNE_HOSTED=1, the host's HF_TOKEN set, the fake Hub).

The host fetched a gated model and a private dataset with their token, so both sit in the
cache. Offline (HF_HUB_OFFLINE=1) or with the Hub down, a visitor is neither offered them
nor allowed to load them; locally the host still is. The "gated" sentence tells a visitor to
sign in, never to set the host's HF_TOKEN. A Hub README is checked on the training path too.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import hostile
import pytest
import test_bad_input_hosted as base
from fakehub_repo import RepoFile
from huggingface_hub import constants, snapshot_download

from finetune_core import hub
from finetune_core.errors import HubError
from finetune_core.host import paths
from finetune_core.hub import net
from finetune_core.jobs.manager import MANAGER
from finetune_core.model import BUNDLED_MODEL

HOST_TOKEN, config = base.HOST_TOKEN, base.config
hosted_server, visitor, uploaded = base.hosted_server, base.visitor, base.uploaded  # fixtures

CACHED_MODEL = "host-org/cached-gated"
CACHED_DATA = "host-org/cached-private"
REFUSED = "cannot be used now"


@pytest.fixture(scope="module")
def host_cache(hosted_server, fake_hub, tiny_bert, tmp_path_factory):
    """The host's downloads, made with the host's token, removed again afterwards so other
    tests' offline listings do not see them."""
    data = tmp_path_factory.mktemp("private-data")
    (data / "train.csv").write_bytes(hostile.csv_bytes())
    fake_hub.add_model(CACHED_MODEL, tiny_bert, gated=True, pipeline_tag="fill-mask")
    fake_hub.add_dataset(CACHED_DATA, data, private=True)
    made = [
        snapshot_download(CACHED_MODEL, token=HOST_TOKEN, endpoint=net.endpoint()),
        snapshot_download(
            CACHED_DATA, repo_type="dataset", token=HOST_TOKEN, endpoint=net.endpoint()
        ),
    ]
    yield
    for snapshot in made:
        shutil.rmtree(Path(snapshot).parents[1], ignore_errors=True)  # the repo's cache folder


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.clear_cache()
    yield
    hub.clear_cache()


def _ids(result) -> set[str]:
    return {h.id for h in result.results}


def test_offline_search_offers_a_visitor_only_what_they_may_load(host_cache, offline, monkeypatch):
    from finetune_core.ui import model_tab

    models = hub.search_models(query="", limit=50)
    assert models.offline
    assert CACHED_MODEL not in _ids(models) and "host-org" not in str(_ids(models))
    rows, _, _ = model_tab.search("cached", "any backbone", "downloads")  # the page's handler
    assert not any(CACHED_MODEL in str(r[0]) for r in rows), rows
    assert BUNDLED_MODEL in _ids(hub.search_models(query="minilm", limit=50))
    datasets = hub.search_datasets(query="", limit=50)
    assert CACHED_DATA not in _ids(datasets)
    demo = [h for h in datasets.results if "assets/demo" in (h.path or h.id)]
    assert demo, _ids(datasets)  # the demo data stays, and a visitor may load it
    assert paths.refusal(demo[0].path) is None
    monkeypatch.delenv("FINETUNE_HOSTED")  # the same cache, locally: the host may use it
    hub.clear_cache()
    assert CACHED_MODEL in _ids(hub.search_models(query="cached", limit=50))
    assert CACHED_DATA in _ids(hub.search_datasets(query="cached", limit=50))


def _refused(visitor, text: str) -> str:
    answer = visitor.predict(text, api_name="/start_run")
    assert answer["job_id"] is None, answer
    assert "\n" not in answer["error"] and HOST_TOKEN not in answer["error"]
    assert isinstance(visitor.predict(api_name="/my_runs"), list)  # the server still answers
    return answer["error"]


def test_offline_a_cached_gated_model_is_refused(host_cache, offline, visitor, uploaded):
    error = _refused(visitor, config(CACHED_MODEL, uploaded["good"]))
    assert f"Model {CACHED_MODEL} {REFUSED} (HF_HUB_OFFLINE=1 is set)" in error, error
    assert "use the bundled model" in error
    with pytest.raises(HubError, match=REFUSED):  # its card is not read from the cache either
        hub.model_card(CACHED_MODEL)
    with pytest.raises(HubError, match=f"Dataset {CACHED_DATA} {REFUSED}"):
        hub.dataset_card(CACHED_DATA)


def test_offline_a_cached_private_dataset_is_refused(host_cache, offline, visitor):
    error = _refused(visitor, config(BUNDLED_MODEL, CACHED_DATA))
    assert f"Dataset {CACHED_DATA} {REFUSED}" in error and "demo data or an upload" in error


def test_with_the_hub_down_the_cache_is_not_a_way_in(host_cache, fake_hub, visitor, uploaded):
    """Not HF_HUB_OFFLINE: the Hub answers 503, when transformers falls back to the cache."""
    hub.clear_cache()
    net.clear_down()
    try:
        with fake_hub.down():
            error = _refused(visitor, config(CACHED_MODEL, uploaded["good"]))
    finally:
        net.clear_down()
    assert f"Model {CACHED_MODEL} {REFUSED}" in error, error


def test_the_gated_sentence_says_sign_in_when_hosted(host_cache, visitor, uploaded):
    hub.clear_cache()
    error = _refused(visitor, config(CACHED_MODEL, uploaded["good"]))
    assert f"Model {CACHED_MODEL} is gated" in error, error
    assert "sign in with Hugging Face (or paste a token on the page)" in error
    assert "HF_TOKEN" not in error  # on a Space that is the host's token
    private = _refused(visitor, config("host-org/secret-bert", uploaded["good"]))
    assert "was not found on the Hub" in private and "HF_TOKEN" not in private, private


def _wait_state(visitor, job_id: str, states: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + 180
    status = {}
    while time.monotonic() < deadline:
        status = visitor.predict(job_id, api_name="/run_status")
        if status.get("state") in states:
            return status
        time.sleep(0.3)
    return status


def test_a_hub_readme_is_checked_on_the_training_path(
    host_cache, hosted_server, fake_hub, visitor, uploaded, tmp_path
):
    """The card (preflight) saw a clean README; the README became an alias bomb while the
    run waited in the queue (CPU: one run at a time, a long one ahead of it). The run fails
    with the one sentence instead of expanding the bomb: the training path checks the
    README itself, without the card."""
    repo_id = "evil-org/turns-bad"
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_bytes(hostile.csv_bytes())
    (data / "README.md").write_text("---\nlicense: mit\n---\n# fine\n")
    fake_hub.add_dataset(repo_id, data)
    hub.clear_cache()
    assert MANAGER.max_concurrent == 1
    ahead = visitor.predict(
        config(hosted_server["bert"], uploaded["good"], epochs=500), api_name="/start_run"
    )
    assert ahead["error"] is None, ahead
    answer = visitor.predict(config(hosted_server["bert"], repo_id), api_name="/start_run")
    assert answer["error"] is None, answer  # preflight read the clean README
    assert visitor.predict(answer["job_id"], api_name="/run_status")["state"] == "queued"
    bomb = tmp_path / "README.md"
    bomb.write_text(f"---\n{hostile.alias_bomb()}---\n")
    repo = fake_hub.repos[("dataset", repo_id)]  # a commit, without the fake Hub's own
    repo.files["README.md"] = RepoFile.read("README.md", bomb)  # card parser expanding it
    repo.sha = "b" * 40
    assert visitor.predict(ahead["job_id"], api_name="/stop_run")["stopping"] is True
    status = _wait_state(visitor, answer["job_id"], ("failed", "completed", "stopped"))
    assert status.get("state") == "failed", status
    assert f"{repo_id}/README.md uses a YAML anchor or alias" in str(status["error"]), status
    assert "\n" not in str(status["error"])
    assert constants.HF_HUB_DISABLE_IMPLICIT_TOKEN  # hosted all along


def test_each_visitor_sees_and_stops_only_their_own_runs(hosted_server, visitor, uploaded):
    """README: "Each browser (and each API client session) sees and stops only its own runs",
    hosted: another visitor, even knowing the job id, gets nothing, and the runs table of
    another session does not list the run."""
    from gradio_client import Client

    from finetune_core.ui import runs_tab

    other = Client(hosted_server["url"], verbose=False)
    mine = visitor.predict(
        config(hosted_server["bert"], uploaded["good"], epochs=500), api_name="/start_run"
    )
    assert mine["error"] is None, mine
    try:
        assert other.predict(mine["job_id"], api_name="/run_status")["state"] == "unknown"
        assert other.predict(mine["job_id"], api_name="/stop_run")["stopping"] is False
        assert other.predict(api_name="/my_runs") == []
        assert mine["job_id"] in {r["job_id"] for r in visitor.predict(api_name="/my_runs")}
        listed = [v.path.name for v in runs_tab.visible_runs(f"api-{other.session_hash}")]
        assert mine["run"] not in listed
        owned = [v.path.name for v in runs_tab.visible_runs(f"api-{visitor.session_hash}")]
        assert mine["run"] in owned
    finally:
        assert visitor.predict(mine["job_id"], api_name="/stop_run")["stopping"] is True
    _wait_state(visitor, mine["job_id"], ("stopped", "completed", "failed"))
