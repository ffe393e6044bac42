"""Info cards for models and datasets, compatibility, gated/missing repos and tokens, through
the fake Hub."""

from __future__ import annotations

import json

import pytest
from hub_repos import OWNER, TOKEN, fresh, ids, register  # noqa: F401 (fresh: autouse fixture)

from finetune_core import hub
from finetune_core.errors import HubError


@pytest.fixture(scope="module")
def repos(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory):
    return register(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory)


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
    from finetune_core.hub.offline import local_param_count

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


def test_one_translator_types_every_hub_failure(fake_hub, tiny_bert, text_csv):
    """Model loading, dataset loading and the cards raise the same typed errors, with the same
    sentence, whichever library (transformers, datasets, huggingface_hub) saw the failure."""
    from finetune_core import model
    from finetune_core.data import load as data
    from finetune_core.errors import GatedRepoError, InvalidRepoIdError, RepoNotFoundError

    # repos of their own: a gated file some other test fetched with a token stays in the cache
    fake_hub.add_model("errt/locked-model", tiny_bert, gated=True)
    fake_hub.add_dataset("errt/locked-data", text_csv.parent, gated=True)
    gated = [
        lambda: model.load_config("errt/locked-model"),
        lambda: data.load_raw("errt/locked-data"),
        lambda: hub.model_card("errt/locked-model"),
        lambda: hub.dataset_card("errt/locked-data"),
    ]
    endings = set()
    for call in gated:
        with pytest.raises(GatedRepoError) as err:
            call()
        endings.add(str(err.value).split(" is gated")[1])
    assert len(endings) == 1  # the gated sentence is written once
    missing = [
        lambda: model.load_config("errt/no-such-model"),
        lambda: data.load_raw("errt/no-such-data"),
        lambda: hub.model_card("errt/no-such-model"),
        lambda: hub.dataset_card("errt/no-such-data"),
    ]
    for call in missing:
        with pytest.raises(RepoNotFoundError, match="was not found on the Hub") as err:
            call()
        assert err.value.repo_id in ("errt/no-such-model", "errt/no-such-data")
    with pytest.raises(InvalidRepoIdError, match="is not a valid model id"):
        model.load_config("not a//valid id")


def test_a_missing_config_is_not_called_a_missing_dataset(repos):
    """A repo that exists with a config name it lacks: the sentence names the config, not a
    missing repo (the Hub cases are typed; no text match can claim "not found" for them)."""
    from finetune_core.data import load as data
    from finetune_core.errors import DataError

    with pytest.raises(DataError) as err:
        data.load_raw("hubt/reviews", config="nope")
    assert "nope" in str(err.value) and "was not found on the Hub" not in str(err.value)
