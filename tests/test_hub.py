"""Hub search, offline fallbacks and the `finetune search` command, through the fake Hub
(info cards and compatibility: test_hub_cards.py)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hub_repos import OWNER, TOKEN, fresh, ids, register  # noqa: F401 (fresh: autouse fixture)

from finetune_core import hub
from finetune_core.cli import search as search_cli
from finetune_core.errors import ConfigError, HubError


@pytest.fixture(scope="module")
def repos(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory):
    return register(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory)


# ---- search -------------------------------------------------------------------------------
def test_search_models_text_task_and_library_filter(repos):
    result = hub.search_models(OWNER, task="text-classification")
    assert not result.offline and result.reason is None
    assert ids(result) == ["hubt/bert-sentiment"]
    everything = ids(hub.search_models(OWNER))
    assert "hubt/timm-net" not in everything  # library transformers only
    assert "hubt/private-bert" not in everything  # private without a token
    assert "hubt/private-bert" in ids(hub.search_models(OWNER, token=TOKEN))


def test_backbone_merges_every_backbone_tag_in_sort_order(repos):
    result = hub.search_models(OWNER, task="backbone")
    assert ids(result) == [
        "hubt/bert-sentiment",
        "hubt/minilm-embed",
        "hubt/bert-base-fill",
        "hubt/vit-patch",
        "hubt/vit-classifier",
        "hubt/gated-bert",
    ]
    assert "hubt/bert-ner" not in ids(result)  # token classification is no backbone choice


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("downloads", ["hubt/bert-sentiment", "hubt/bert-ner", "hubt/minilm-embed"]),
        ("likes", ["hubt/vit-patch", "hubt/vit-classifier", "hubt/bert-base-fill"]),
        ("trending", ["hubt/bert-sentiment", "hubt/vit-classifier", "hubt/bert-base-fill"]),
    ],
)
def test_sort_orders(repos, sort, first):
    assert ids(hub.search_models(OWNER, sort=sort))[:3] == first


def test_sort_by_update_time(repos):
    result = hub.search_models(OWNER, task="backbone", sort="updated")
    stamps = [h.last_modified for h in result.results]
    assert stamps == sorted(stamps, reverse=True)
    dated = [i for i in ids(result) if i != "hubt/gated-bert"]  # gated-bert: updated "now"
    assert dated == [
        "hubt/vit-patch",
        "hubt/bert-sentiment",
        "hubt/vit-classifier",
        "hubt/bert-base-fill",
        "hubt/minilm-embed",
    ]


@pytest.mark.parametrize("task", [None, "backbone"])
def test_paging_walks_the_whole_list_once(repos, task):
    full = ids(hub.search_models(OWNER, task=task, limit=50))
    pages, page = [], 0
    while page is not None:
        result = hub.search_models(OWNER, task=task, limit=2, page=page)
        assert len(result.results) <= 2
        pages += ids(result)
        page = result.next_page
    assert pages == full and len(set(pages)) == len(pages)


def test_typed_hits_and_json_contract(repos):
    result = hub.search_models("hubt/bert-sentiment")
    hit = result.results[0]
    assert isinstance(hit, hub.ModelHit)
    assert (hit.task, hit.downloads, hit.likes, hit.library, hit.params, hit.gated) == (
        "text-classification",
        900,
        1,
        "transformers",
        12345,
        False,
    )
    assert hit.last_modified == "2024-03-01T00:00:00Z"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["offline"] is False and data["reason"] is None
    assert {"id", "downloads", "likes", "task", "last_modified", "gated"} <= set(data["results"][0])
    assert hub.search_models("hubt/gated-bert").results[0].gated is True


def test_search_datasets_filters_and_typed_hits(repos):
    result = hub.search_datasets(OWNER, task="text-classification")
    assert ids(result) == ["hubt/reviews", "hubt/table"]
    hit = result.results[0]
    assert isinstance(hit, hub.DatasetHit)
    assert (hit.task, hit.size_category, hit.downloads, hit.likes) == (
        "text-classification",
        "n<1K",
        40,
        4,
    )
    assert ids(hub.search_datasets(OWNER, task="image-classification")) == ["hubt/colors"]
    assert ids(hub.search_datasets(OWNER, sort="likes"))[:2] == ["hubt/colors", "hubt/reviews"]
    assert "task" in result.to_dict()["results"][0]


def test_bad_input_is_one_sentence(repos):
    with pytest.raises(ConfigError, match="task"):
        hub.search_datasets("x", task="backbone")
    with pytest.raises(ConfigError, match="sort"):
        hub.search_models("x", sort="stars")
    with pytest.raises(ConfigError, match="limit"):
        hub.search_models("x", limit=0)


def test_a_refused_token_is_a_typed_error_not_an_offline_answer(repos):
    from finetune_core.errors import HubAuthError

    with pytest.raises(HubAuthError, match=r"refused the token \(HTTP 401\)") as err:
        hub.search_models("bert", token="hf_not_a_token_the_hub_knows")
    assert "hf_not_a_token" not in str(err.value)


def test_same_query_is_answered_from_memory(repos):
    repos.reset_requests()
    first = hub.search_models(OWNER, task="backbone", limit=3)
    assert len(repos.requests) == 5  # one listing per backbone pipeline tag, in parallel
    repos.reset_requests()
    again = hub.search_models(OWNER, task="backbone", limit=3)
    assert repos.requests == [] and ids(again) == ids(first)
    hub.search_models(OWNER, task="backbone", limit=3, page=1)  # next page: only what's missing
    assert len(repos.requests) <= 5


def test_search_timing_cold_and_cached(repos, capsys):
    start = time.perf_counter()
    hub.search_models(OWNER, task="text-classification")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    hub.search_models(OWNER, task="text-classification")
    cached = time.perf_counter() - start
    with capsys.disabled():
        print(
            f"\nsearch against the loopback Hub: cold {cold * 1000:.1f} ms, "
            f"cached {cached * 1000:.2f} ms"
        )
    assert cached < cold and cached < 0.05


# ---- offline ---------------------------------------------------------------------------------
def test_connection_refused_answers_from_offline_sources(repos, monkeypatch, tiny_bert, tmp_path):
    local = tmp_path / "models" / "my-local-bert"
    shutil.copytree(tiny_bert, local)
    monkeypatch.setenv("FINETUNE_LOCAL_MODELS", str(local.parent))
    monkeypatch.setenv("HF_ENDPOINT", repos.closed_url())
    start = time.monotonic()
    result = hub.search_models("")
    assert time.monotonic() - start < 3
    assert result.offline and result.reason == "the Hub is unreachable: connection refused"
    by_id = {h.id: h for h in result.results}
    bundled = by_id["sentence-transformers/all-MiniLM-L6-v2"]
    assert bundled.source == "bundled" and bundled.params > 20_000_000
    assert by_id[str(local)].source == "local" and by_id[str(local)].task == "fill-mask"
    only = hub.search_models("my-local")  # the query filters offline sources too
    assert ids(only) == [str(local)] and only.offline


def test_hub_answering_503_falls_back(repos):
    with repos.down():
        result = hub.search_datasets("support")
    assert result.offline and "503" in result.reason


def test_hanging_hub_is_abandoned_at_the_deadline(repos, monkeypatch):
    monkeypatch.setenv("FINETUNE_HUB_TIMEOUT", "1")
    with repos.hanging(30):
        start = time.monotonic()
        result = hub.search_models("minilm")
        elapsed = time.monotonic() - start
    assert elapsed < 2.5
    assert result.offline and result.reason == "the Hub did not answer within 1 s"
    assert "sentence-transformers/all-MiniLM-L6-v2" in ids(result)
    start = time.monotonic()  # the failure is remembered: no second wait while typing
    assert hub.search_models("mini").offline and time.monotonic() - start < 0.5
    assert hub.offline_reason() == result.reason
    start = time.monotonic()  # cards skip the Hub too while the failure is remembered
    with pytest.raises(HubError, match="did not answer within 1 s, and it is not in the local"):
        hub.model_card("hubt/vit-patch")
    assert time.monotonic() - start < 0.5


def test_hf_hub_offline_makes_no_request(repos, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repos.reset_requests()
    result = hub.search_datasets("")
    assert result.offline and result.reason == "HF_HUB_OFFLINE=1 is set"
    assert repos.requests == []
    # the repository's own demo data, found from the test file, not from the code under test
    demo = Path(__file__).resolve().parents[1] / "assets" / "demo" / "support_tickets.csv"
    assert str(demo) in {h.path for h in result.results if h.source == "bundled"}


def test_local_datasets_from_env(repos, monkeypatch, text_csv, image_folder):
    monkeypatch.setenv(
        "FINETUNE_LOCAL_DATASETS", os.pathsep.join([str(text_csv), str(image_folder)])
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = hub.search_datasets("")
    found = {h.id: h for h in result.results}
    assert found[str(text_csv)].source == "local"
    assert found[str(image_folder)].task == "image-classification"
    assert ids(hub.search_datasets("", task="image-classification"))[:1] == [str(image_folder)]


# ---- CLI --------------------------------------------------------------------------------------
def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    search_cli.add_parser(parser.add_subparsers(dest="command"))
    return search_cli.run(parser.parse_args(["search", *argv]))


def test_cli_table_is_sorted_and_aligned(repos, capsys):
    assert cli("models", "hubt/bert", "--task", "text-classification") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["ID", "TASK", "DOWNLOADS"]
    assert out[1].split()[:3] == ["hubt/bert-sentiment", "text-classification", "900"]
    assert cli("datasets", OWNER, "--sort", "likes", "--limit", "2") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:3]] == ["hubt/colors", "hubt/reviews"]
    assert out[-1] == "more results: add --page 1"


def test_cli_json_contract(repos, capsys):
    assert cli("models", OWNER, "--json", "--limit", "3", "--sort", "likes") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["offline"] is False and data["reason"] is None
    assert [r["id"] for r in data["results"]] == [
        "hubt/vit-patch",
        "hubt/vit-classifier",
        "hubt/bert-base-fill",
    ]


def test_cli_offline_still_exits_zero(repos, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", repos.closed_url())
    assert cli("models", "minilm") == 0
    out = capsys.readouterr().out
    assert out.startswith("offline: the Hub is unreachable: connection refused")
    assert "sentence-transformers/all-MiniLM-L6-v2" in out and "bundled" in out
    assert cli("datasets", "--json") == 0
    assert json.loads(capsys.readouterr().out)["offline"] is True


def test_cli_bad_input_is_one_line_and_nonzero(repos, capsys):
    assert cli("datasets", "x", "--task", "backbone") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Unknown dataset task")
