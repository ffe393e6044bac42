"""The fake Hub serves what the real clients call: downloads, info, search, datasets, errors."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import huggingface_hub as hh
import pytest
import tiny
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import get_session

TOKEN = "hf_test_token"


@pytest.fixture(scope="module")
def repos(fake_hub, tiny_bert, tiny_vit, image_folder, tmp_path_factory):
    """Repos under the `fh/` owner (other test modules use other owners)."""
    root = tmp_path_factory.mktemp("fakehub-repos")
    text = root / "text"
    rows = tiny.text_rows(30)
    tiny.write_csv(text / "data" / "train.csv", rows[:24])
    tiny.write_csv(text / "data" / "test.csv", rows[24:])

    import datasets

    parquet = root / "parquet" / "data"
    parquet.mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(parquet / "train-00000-of-00001.parquet"))

    fake_hub.add_model(
        "fh/tiny-bert",
        tiny_bert,
        downloads=300,
        likes=3,
        pipeline_tag="fill-mask",
        tags=["license:apache-2.0"],
        safetensors_params=12345,
    )
    fake_hub.add_model(
        "fh/tiny-vit",
        tiny_vit,
        downloads=200,
        likes=9,
        pipeline_tag="image-feature-extraction",
        gated=True,
    )
    fake_hub.add_model("fh/private-bert", tiny_bert, downloads=100, private=True)
    for i in range(5):
        fake_hub.add_model(f"fh/page-{i}", tiny_bert, downloads=i)
    fake_hub.add_dataset(
        "fh/tiny-text",
        text,
        task_categories=["text-classification"],
        size_category="n<1K",
        downloads=5,
    )
    fake_hub.add_dataset(
        "fh/tiny-images", image_folder.parent, task_categories=["image-classification"]
    )
    fake_hub.add_dataset("fh/tiny-parquet", parquet.parent)
    fake_hub.add_dataset("fh/gated-text", text, gated=True)
    return fake_hub


def test_hf_hub_download_serves_the_file_with_commit_and_etag(repos, tiny_bert):
    path = hh.hf_hub_download("fh/tiny-bert", "config.json")
    assert Path(path).read_text() == (tiny_bert / "config.json").read_text()
    sha = hh.model_info("fh/tiny-bert").sha
    assert len(sha) == 40 and f"/snapshots/{sha}/" in path
    meta = hh.get_hf_file_metadata(hh.hf_hub_url("fh/tiny-bert", "model.safetensors"))
    assert meta.commit_hash == sha and meta.size == (tiny_bert / "model.safetensors").stat().st_size
    assert len(meta.etag) == 64  # LFS file: the sha256, as on the real Hub


def test_snapshot_download_fetches_every_file(repos, tiny_bert):
    folder = hh.snapshot_download("fh/tiny-bert")
    names = {p.name for p in tiny_bert.iterdir()}
    assert names <= {p.name for p in Path(folder).iterdir()}


def test_model_info_fields(repos):
    info = hh.model_info("fh/tiny-bert")
    assert (info.downloads, info.likes, info.pipeline_tag) == (300, 3, "fill-mask")
    assert info.library_name == "transformers" and "transformers" in info.tags
    assert info.safetensors.total == 12345
    assert info.card_data.license == "apache-2.0"
    assert info.gated is False and info.private is False
    assert {"config.json", "model.safetensors", "vocab.txt"} <= {s.rfilename for s in info.siblings}
    assert info.config["model_type"] == "bert"


def test_list_models_search_sort_limit(repos):
    hits = list(hh.list_models(search="fh/", sort="downloads", limit=3))
    assert [m.id for m in hits] == ["fh/tiny-bert", "fh/tiny-vit", "fh/page-4"]
    likes = [m.id for m in hh.list_models(search="fh/tiny", sort="likes")]
    assert likes == ["fh/tiny-vit", "fh/tiny-bert"]
    tagged = [m.id for m in hh.list_models(search="fh/", pipeline_tag="fill-mask")]
    assert tagged == ["fh/tiny-bert"]


def test_listing_pages_with_a_cursor_link(repos):
    url = f"{repos.url}/api/models?search=fh/page&sort=downloads&limit=2"
    seen = []
    while url:
        response = get_session().get(url)
        response.raise_for_status()
        seen += [m["id"] for m in response.json()]
        url = response.links.get("next", {}).get("url")
    assert seen == [f"fh/page-{i}" for i in (4, 3, 2, 1, 0)]


def test_private_repos_need_a_token_and_are_hidden(repos):
    with pytest.raises(RepositoryNotFoundError):
        hh.model_info("fh/private-bert")
    assert hh.model_info("fh/private-bert", token=TOKEN).private is True
    assert "fh/private-bert" not in [m.id for m in hh.list_models(search="fh/")]
    assert "fh/private-bert" in [m.id for m in hh.list_models(search="fh/", token=TOKEN)]


def test_transformers_loads_model_and_tokenizer(repos, tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained("fh/tiny-bert")
    tok = AutoTokenizer.from_pretrained("fh/tiny-bert")
    assert model.config.hidden_size == 32
    assert tok.get_vocab() == AutoTokenizer.from_pretrained(tiny_bert).get_vocab()


def test_load_dataset_csv_with_splits(repos):
    import datasets

    ds = datasets.load_dataset("fh/tiny-text")
    assert {k: len(v) for k, v in ds.items()} == {"train": 24, "test": 6}
    assert ds["train"].column_names == ["text", "label"]


def test_load_dataset_image_folder_and_parquet(repos):
    import datasets

    images = datasets.load_dataset("fh/tiny-images")["train"]
    assert len(images) == 16 and images.features["label"].names == ["blue", "red"]
    assert images[0]["image"].size == (16, 16)
    table = datasets.load_dataset("fh/tiny-parquet")["train"]
    assert len(table) == 30 and table.column_names == ["text", "label"]


def test_gated_repo_needs_a_token(repos):
    assert hh.model_info("fh/tiny-vit").gated == "auto"  # info is public, as on the Hub
    with pytest.raises(GatedRepoError):
        hh.hf_hub_download("fh/tiny-vit", "config.json")
    assert hh.hf_hub_download("fh/tiny-vit", "config.json", token=TOKEN).endswith("config.json")


def test_gated_dataset_needs_a_token(repos):
    import datasets

    with pytest.raises(Exception, match="gated"):
        datasets.load_dataset("fh/gated-text")
    assert len(datasets.load_dataset("fh/gated-text", token=TOKEN)["train"]) == 24


def test_missing_repo_and_file(repos):
    with pytest.raises(RepositoryNotFoundError):
        hh.model_info("fh/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        hh.hf_hub_download("fh/does-not-exist", "config.json")
    with pytest.raises(EntryNotFoundError):
        hh.hf_hub_download("fh/tiny-bert", "nope.json")


def test_range_requests(repos, tiny_bert):
    url = hh.hf_hub_url("fh/tiny-bert", "vocab.txt")
    response = get_session().get(url, headers={"Range": "bytes=2-6"})
    assert response.status_code == 206
    assert response.content == (tiny_bert / "vocab.txt").read_bytes()[2:7]


def test_requests_are_recorded_and_unknown_paths_404(repos):
    repos.reset_requests()
    hh.model_info("fh/tiny-bert")
    assert repos.requests == [("GET", "/api/models/fh/tiny-bert")]
    response = get_session().get(f"{repos.url}/api/nothing-here")
    assert response.status_code == 404
    assert repos.unknown == [("GET", "/api/nothing-here")]


def test_down_hang_and_refused_modes(repos):
    with repos.down(), pytest.raises(HfHubHTTPError) as err:
        hh.model_info("fh/tiny-bert")
    assert err.value.response.status_code == 503
    with repos.hanging(30):
        start = time.monotonic()
        with pytest.raises(Exception, match="(?i)timed? ?out"):
            get_session().get(f"{repos.url}/api/models/fh/tiny-bert", timeout=0.3)
        assert time.monotonic() - start < 2
    assert hh.model_info("fh/tiny-bert").id == "fh/tiny-bert"  # back to normal
    start = time.monotonic()
    with pytest.raises(Exception, match="(?i)refused|connect"):
        get_session().get(f"{repos.closed_url()}/api/models", timeout=2)
    assert time.monotonic() - start < 1


def test_create_repo_upload_folder_and_download_back(repos, tiny_bert, tmp_path):
    api = hh.HfApi(token=TOKEN)
    url = api.create_repo("fh-upload", private=True)  # a bare name: the token's own account
    repo_id = url.repo_id
    assert repo_id == "test-user/fh-upload" and str(url) == f"{repos.url}/{repo_id}"
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo(repo_id)
    assert err.value.response.status_code == 409
    assert api.model_info(repo_id).private is True and api.model_info(repo_id).siblings == []

    folder = tmp_path / "upload"
    shutil.copytree(tiny_bert, folder)
    (folder / "notes").mkdir()
    (folder / "notes" / "run.txt").write_text("trained on tests\n")
    repos.reset_requests()
    commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Upload")
    posts = [p.split("?")[0] for m, p in repos.requests if m == "POST"]
    assert f"/api/models/{repo_id}/preupload/main" in posts
    assert f"/api/models/{repo_id}/commit/main" in posts
    info = api.model_info(repo_id, files_metadata=True)
    assert commit.oid == info.sha and commit.commit_url.endswith(f"/{repo_id}/commit/{info.sha}")
    assert info.config["model_type"] == "bert"
    local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(s.rfilename for s in info.siblings) == local
    for name in local:
        path = hh.hf_hub_download(repo_id, name, token=TOKEN)
        assert Path(path).read_bytes() == (folder / name).read_bytes(), name
    tree = [e.path for e in api.list_repo_tree(repo_id, "notes")]
    assert tree == ["notes/run.txt"]
    with pytest.raises(RepositoryNotFoundError):
        hh.model_info(repo_id, token=False)  # private: nothing without a token

    # a second upload sends only what changed; deleting goes through the same commit endpoint
    (folder / "notes" / "run.txt").write_text("second run\n")
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Again")
    again = hh.hf_hub_download(repo_id, "notes/run.txt", token=TOKEN)
    assert Path(again).read_text() == "second run\n"
    assert api.model_info(repo_id).sha != info.sha
    api.delete_file("notes/run.txt", repo_id)
    assert "notes/run.txt" not in [s.rfilename for s in api.model_info(repo_id).siblings]


def test_upload_file_to_a_dataset_repo_updates_its_card(repos):
    api = hh.HfApi(token=TOKEN)
    repo_id = api.create_repo("fh-upload/cards", repo_type="dataset").repo_id
    readme = b"---\nlicense: mit\n---\n# Cards\n"
    api.upload_file(
        path_or_fileobj=readme, path_in_repo="README.md", repo_id=repo_id, repo_type="dataset"
    )
    assert hh.dataset_info(repo_id).card_data.license == "mit"
    path = hh.hf_hub_download(repo_id, "README.md", repo_type="dataset")
    assert Path(path).read_bytes() == readme


def test_writes_need_an_accepted_token(repos):
    for token in ("hf_not_a_real_token", False):
        with pytest.raises(HfHubHTTPError) as err:
            hh.HfApi(token=token).create_repo("fh-upload/refused")
        assert err.value.response.status_code == 401
    repo_id = hh.HfApi(token=TOKEN).create_repo("fh-upload/locked").repo_id
    with pytest.raises(HfHubHTTPError) as err:
        hh.HfApi(token=False).upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id
        )
    assert err.value.response.status_code == 401
    assert hh.model_info(repo_id).siblings == []
