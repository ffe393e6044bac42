"""The "hubt/" repos on the fake Hub shared by the Hub tests (search and cards), and the
per-test cache reset."""

from __future__ import annotations

import pytest
import tiny

from finetune_core import hub

TOKEN = "hf_test_token"
OWNER = "hubt/"  # every repo here; other test modules use other owners


_DONE: list = []


def register(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory):
    """Serve the "hubt/" repos once per session (both Hub test modules use them)."""
    if _DONE:
        return fake_hub
    _DONE.append(True)
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
