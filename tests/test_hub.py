"""Hub search, info cards, compatibility and offline fallbacks, all through the fake Hub."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

import pytest
import tiny

from finetune_core import hub, search_cli
from finetune_core.errors import ConfigError, HubError

TOKEN = "hf_test_token"
OWNER = "hubt/"  # every repo here; other test modules use other owners


@pytest.fixture(scope="module")
def repos(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-repos")
    classifier = tiny.make_bert(root / "bert-cls", num_labels=3)
    rows = tiny.text_rows(30)
    text = root / "reviews"
    tiny.write_csv(text / "data" / "train.csv", rows[:24])
    tiny.write_csv(text / "data" / "test.csv", rows[24:])
    nolabel = root / "nolabel"
    tiny.write_csv(nolabel / "data" / "train.csv", [{"text": r["text"]} for r in rows])
    parquet = root / "table" / "data"
    parquet.mkdir(parents=True)
    import datasets

    datasets.Dataset.from_list(rows).to_parquet(str(parquet / "train-00000-of-00001.parquet"))

    add = fake_hub.add_model
    add(
        "hubt/bert-base-fill",
        tiny_bert,
        downloads=500,
        likes=5,
        trending_score=10,
        pipeline_tag="fill-mask",
        last_modified="2024-01-01T00:00:00Z",
    )
    add(
        "hubt/bert-sentiment",
        classifier,
        downloads=900,
        likes=1,
        trending_score=50,
        pipeline_tag="text-classification",
        last_modified="2024-03-01T00:00:00Z",
        safetensors_params=12345,
        tags=["license:mit"],
    )
    add(
        "hubt/vit-patch",
        tiny_vit,
        downloads=300,
        likes=50,
        trending_score=5,
        pipeline_tag="image-feature-extraction",
        last_modified="2024-06-01T00:00:00Z",
    )
    add(
        "hubt/vit-classifier",
        tiny_vit,
        downloads=100,
        likes=20,
        trending_score=30,
        pipeline_tag="image-classification",
        last_modified="2024-02-01T00:00:00Z",
    )
    add(
        "hubt/minilm-embed",
        tiny_bert,
        downloads=700,
        likes=3,
        trending_score=1,
        pipeline_tag="feature-extraction",
        last_modified="2023-12-01T00:00:00Z",
    )
    add("hubt/bert-ner", tiny_bert, downloads=800, pipeline_tag="token-classification")
    add(
        "hubt/timm-net",
        tiny_vit,
        downloads=1000,
        pipeline_tag="image-classification",
        library="timm",
    )
    add("hubt/gated-bert", tiny_bert, downloads=50, pipeline_tag="fill-mask", gated=True)
    add("hubt/private-bert", tiny_bert, downloads=60, pipeline_tag="fill-mask", private=True)

    fake_hub.add_dataset(
        "hubt/reviews",
        text,
        downloads=40,
        likes=4,
        task_categories=["text-classification"],
        size_category="n<1K",
    )
    fake_hub.add_dataset(
        "hubt/colors",
        image_folder.parent,
        downloads=20,
        likes=10,
        task_categories=["image-classification"],
    )
    fake_hub.add_dataset(
        "hubt/table", parquet.parent, downloads=30, task_categories=["text-classification"]
    )
    fake_hub.add_dataset("hubt/nolabel", nolabel, downloads=1)
    fake_hub.add_dataset("hubt/gated-reviews", text, downloads=2, gated=True)
    return fake_hub


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """Each test starts with empty search/info caches and no memory of a Hub failure."""
    hub.clear_cache()
    yield
    hub.clear_cache()


def ids(result) -> list[str]:
    return [h.id for h in result.results]


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
    from finetune_core.hub_offline import DEMO_DIR

    demo = {str(p) for p in DEMO_DIR.glob("*.csv")}  # assets/demo/ (empty set if absent)
    assert demo <= {h.path for h in result.results if h.source == "bundled"}


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


# ---- cards ---------------------------------------------------------------------------------
def test_model_card_from_the_hub(repos):
    card = hub.model_card("hubt/bert-sentiment", num_labels=4, batch_size=8)
    assert (card.source, card.architecture, card.model_type) == (
        "hub",
        "BertForSequenceClassification",
        "bert",
    )
    assert card.params == 12345  # the Hub's safetensors metadata
    assert (card.license, card.pipeline_tag, card.modality) == (
        "mit",
        "text-classification",
        "text",
    )
    assert card.has_head and card.head_size == 3 and len(card.head_labels) == 3
    assert card.memory.trainable_params == 32 * 4 + 4  # the new head only
    repos.reset_requests()
    hub.model_card("hubt/bert-sentiment", num_labels=4, batch_size=32)  # info cached
    assert repos.requests == []


def test_model_card_counts_params_from_safetensors_headers(repos, tiny_bert):
    from finetune_core.hub_offline import local_param_count

    card = hub.model_card("hubt/bert-base-fill")
    assert card.params == local_param_count(tiny_bert) > 10_000
    assert not card.has_head and card.head_size is None


def test_memory_estimate_grows_with_batch_and_trainable_layers(repos):
    small = hub.model_card("hubt/bert-base-fill", batch_size=4).memory
    large = hub.model_card("hubt/bert-base-fill", batch_size=64).memory
    full = hub.model_card("hubt/bert-base-fill", batch_size=4, freeze="none").memory
    assert large.activations > small.activations
    assert full.total > small.total and full.trainable_params == full.total_params
    assert "MB" in large.human() or "KB" in large.human()


def test_model_card_of_local_folder_and_image_model(tiny_vit):
    card = hub.model_card(str(tiny_vit))
    assert card.source == "local" and card.modality == "image" and card.params > 0
    assert card.memory.tokens == (16 // 8) ** 2 + 1


def test_dataset_card_csv_splits_preview_and_labels(repos):
    card = hub.dataset_card("hubt/reviews", preview_rows=3)
    assert card.splits == {"train": 24, "test": 6}
    assert len(card.preview) == 3 and set(card.preview[0]) == {"text", "label"}
    assert (card.text_column, card.label_column, card.task) == ("text", "label", "text")
    assert card.label_names == ["neg", "neu", "pos"]
    assert card.features == {"text": "string", "label": "string"}
    assert card.class_counts == {"neg": 8, "neu": 8, "pos": 8}  # the sampled rows of train


def test_dataset_card_images_and_parquet(repos):
    images = hub.dataset_card("hubt/colors")
    assert images.splits == {"train": 16} and images.image_column == "image"
    assert images.label_names == ["blue", "red"] and images.labels_complete
    assert images.preview[0]["image"] == "<image 16x16>"
    table = hub.dataset_card("hubt/table")
    assert table.splits == {"train": 30} and table.label_column == "label"


def test_dataset_card_of_local_file(text_csv):
    card = hub.dataset_card(str(text_csv))
    assert (card.source, card.text_column, card.label_column) == ("local", "review_body", "verdict")
    assert card.splits == {"train": 60} and card.label_names == ["neg", "neu", "pos"]


def test_compatibility(repos):
    text_model = hub.model_card("hubt/bert-base-fill")
    image_model = hub.model_card("hubt/vit-classifier")
    text_data = hub.dataset_card("hubt/reviews")
    image_data = hub.dataset_card("hubt/colors")
    assert hub.compatibility(text_model, text_data) is None
    assert hub.compatibility(image_model, image_data) is None
    assert "image dataset" in hub.compatibility(text_model, image_data)
    assert "text dataset" in hub.compatibility(image_model, text_data)
    assert "no label column" in hub.compatibility(text_model, hub.dataset_card("hubt/nolabel"))


def test_gated_and_missing_repos_give_one_sentence(repos):
    for call in (
        lambda **kw: hub.model_card("hubt/gated-bert", **kw),
        lambda **kw: hub.dataset_card("hubt/gated-reviews", **kw),
    ):
        with pytest.raises(HubError, match="is gated; request access on its Hub page") as err:
            call()
        assert TOKEN not in str(err.value)
        assert call(token=TOKEN).gated
    with pytest.raises(HubError, match="was not found on the Hub; check the id"):
        hub.model_card("hubt/no-such-model")
    with pytest.raises(HubError, match="was not found on the Hub"):
        hub.dataset_card("hubt/no-such-data")


def test_model_card_falls_back_to_the_cache_when_down(repos, monkeypatch):
    hub.model_card("hubt/minilm-embed")  # puts config.json in the local cache
    hub.clear_cache()
    monkeypatch.setenv("HF_ENDPOINT", repos.closed_url())
    card = hub.model_card("hubt/minilm-embed")
    assert card.source == "cache" and "connection refused" in card.offline_reason
    assert "hubt/minilm-embed" in ids(hub.search_models("minilm"))  # cached models are listed


def test_token_never_appears_in_results(repos, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = hub.search_models(OWNER)
    assert "hubt/private-bert" in ids(result)  # HF_TOKEN was used
    assert TOKEN not in json.dumps(result.to_dict())
    assert TOKEN not in json.dumps(hub.model_card("hubt/gated-bert").to_dict())


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
