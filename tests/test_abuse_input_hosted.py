"""Issue 20, the input side, as attacks on a real hosted server (FINETUNE_HOSTED=1, the
fixtures of test_bad_input_hosted.py): files named inside the data, deep nesting, wide files,
many classes, model configs that amplify, pickled weights, big tokenizers and id2labels.

Each attack goes through the page's own events over HTTP (an upload shows its card at once,
/use_model and /use_data) and the script API (/start_run), and asserts: the one sentence;
that another visitor is still answered; that the server's memory grew by less than
abuse_watch.MEMORY_BOUND_MB; that nothing under the host's folder outside the policy was
opened or written (an audit hook sees every file Python opens), and that no request left
for a URL named in the data."""

from __future__ import annotations

import json

import hostile
import hostile_input as hi
import pytest
import test_bad_input_hosted as base
from abuse_watch import MEMORY_BOUND_MB, Decoy, Watch
from gradio_client import Client

from finetune_core.hub import clear_cache

hosted_server, visitor, uploaded = base.hosted_server, base.visitor, base.uploaded  # fixtures
config, upload = base.config, base.upload
OUTSIDE_ANSWER = "names a file outside this dataset"


@pytest.fixture(scope="module")
def world(hosted_server, fake_hub, tiny_bert, tmp_path_factory):
    """The host's files beside the server, a decoy URL, and the hostile Hub repos."""
    outside = hosted_server["outside"]
    (outside / "secret.png").write_bytes(hostile.png_bytes())
    (outside / "a-folder").mkdir(exist_ok=True)
    decoy = Decoy()
    tmp = tmp_path_factory.mktemp("abuse")
    deep = tmp / "deep-hub"
    deep.mkdir()
    hi.deep_json(deep / "train.jsonl", 20_000)
    fake_hub.add_dataset("evil-org/deep-json", deep)
    pq = tmp / "pq-hub"
    pq.mkdir()
    hi.image_parquet(pq / "train.parquet", str(outside / "secret.png"))
    fake_hub.add_dataset("evil-org/image-paths", pq)
    bert = tiny_bert
    models = {
        "labels": {"num_labels": 10_000_000},
        "wide": {"hidden_size": 65_536, "num_attention_heads": 64},
        "wider": {"hidden_size": 8_192, "num_attention_heads": 64},
        "id2label": hi.big_id2label(130_000),
    }
    for name, change in models.items():
        folder = hi.model_variant(bert, tmp / f"model-{name}", config=change)
        fake_hub.add_model(f"evil-org/{name}", folder, pipeline_tag="fill-mask")
    pickled = hi.model_variant(bert, tmp / "model-pickled", weights="pickled")
    fake_hub.add_model("evil-org/pickled", pickled, pipeline_tag="fill-mask")
    tokenizer = hi.model_variant(bert, tmp / "model-tokenizer")
    hi.pad_tokenizer(tokenizer, 2)
    fake_hub.add_model("evil-org/big-tokenizer", tokenizer, pipeline_tag="fill-mask")
    clear_cache()
    yield {**hosted_server, "decoy": decoy, "tmp": tmp}
    decoy.close()


@pytest.fixture(scope="module")
def other(hosted_server):
    """Another visitor, who must still be answered while and after the attacks."""
    return Client(hosted_server["url"], verbose=False)


def attack(world, other, fn):
    """Run one attack under a Watch; check what every attack must leave true."""
    with Watch(world["outside"]) as watch:
        result = fn()
    assert isinstance(other.predict(api_name="/my_runs"), list)  # others are still answered
    assert watch.peak_mb < MEMORY_BOUND_MB, f"the server grew by {watch.peak_mb:.0f} MB"
    assert watch.opened == [], f"opened outside the policy: {watch.opened}"
    assert watch.written == set(), f"written outside the runs folder: {watch.written}"
    return result


def refused(visitor, text: str) -> str:
    """/start_run with `text`: the one sentence (no job, no traceback, no server path)."""
    answer = visitor.predict(text, api_name="/start_run")
    assert answer["job_id"] is None, answer
    error = answer["error"]
    assert "\n" not in error and "Traceback" not in error, error
    return error


def upload_notice(visitor, path) -> tuple[str, str]:
    """A real upload through the page (it shows the card at once): (server path, notice)."""
    return upload(visitor, path)


# ---- 1. files named inside the data -------------------------------------------------------
def _paths(world) -> list[tuple[str, str, str]]:
    out = world["outside"]
    return [
        ("a server file", str(out / "secret.png"), f"{OUTSIDE_ANSWER} (secret.png)"),
        ("a missing server file", str(out / "nothing.png"), f"{OUTSIDE_ANSWER} (nothing.png)"),
        ("a server folder", str(out / "a-folder"), f"{OUTSIDE_ANSWER} (a-folder)"),
        ("/etc/passwd", "/etc/passwd", f"{OUTSIDE_ANSWER} (passwd)"),
        ("an http URL", world["decoy"].url + "/x.png", "names a URL (http://...)"),
        ("a file URL", f"file://{out / 'secret.png'}", "names a file:// URL"),
        ("a relative path", "../../secret.png", "names a relative path (secret.png)"),
        ("a NUL byte", str(out / "secret.png") + "\x00.png", "has a path with a NUL character"),
        (
            "an over-long path",
            "/" + "a" * 5000,
            "has a path of 5,001 characters, over the limit of 4,096",
        ),
    ]


CASES = [
    "a server file",
    "a missing server file",
    "a server folder",
    "/etc/passwd",
    "an http URL",
    "a file URL",
    "a relative path",
    "a NUL byte",
    "an over-long path",
]


@pytest.mark.parametrize("case", CASES)
def test_an_image_row_naming_a_path_is_refused_in_one_sentence(world, visitor, other, case):
    _, named, expected = next(c for c in _paths(world) if c[0] == case)
    data = hi.image_parquet(world["tmp"] / f"{CASES.index(case)}.parquet", named)

    def go():
        path, notice = upload_notice(visitor, data)  # the card: thumbnails, preview, labels
        return notice, refused(visitor, config(world["bert"], path))

    notice, error = attack(world, other, go)
    sentence = f"Image column 'image' row 2 {expected}"
    assert sentence in notice and sentence in error, (notice, error)
    assert str(world["outside"]) not in notice + error  # file names only, never where
    assert world["decoy"].hits == []  # the URL was never fetched


def test_a_path_is_refused_alike_whether_it_exists_or_not(world, visitor, other):
    """No probing: a file, a missing file and a folder outside get the same answer."""
    answers = []
    for name in ("secret.png", "nothing.png", "a-folder"):
        data = hi.image_parquet(
            world["tmp"] / f"probe-{name}.parquet", str(world["outside"] / name)
        )
        error = attack(world, other, lambda d=data: refused(visitor, _cfg(world, visitor, d)))
        answers.append(error.replace(name, "NAME"))
    assert len(set(answers)) == 1, answers


def _cfg(world, visitor, data) -> str:
    return config(world["bert"], upload_notice(visitor, data)[0])


def test_a_hub_dataset_whose_rows_name_server_files_is_refused(world, visitor, other):
    def go():
        out = visitor.predict("evil-org/image-paths", None, None, api_name="/use_data")
        return out[-1], refused(visitor, config(world["bert"], "evil-org/image-paths"))

    notice, error = attack(world, other, go)
    assert f"{OUTSIDE_ANSWER} (secret.png)" in notice and OUTSIDE_ANSWER in error


def test_images_stored_in_the_data_still_train(world, visitor, other):
    """The policy refuses paths, not images: a Parquet file of image bytes is accepted."""
    data = hi.image_parquet(world["tmp"] / "bytes-only.parquet", None)
    path, notice = attack(world, other, lambda: upload_notice(visitor, data))
    assert "✗" not in notice, notice
    assert path.endswith("bytes-only.parquet")


# ---- 2. deep nesting -----------------------------------------------------------------------
DEEP = "nests its values more than 64 levels deep"


@pytest.mark.parametrize("levels", [5_000, 20_000])
def test_deep_json_is_refused_before_any_parser_sees_it(world, visitor, other, levels):
    """20,000 levels segfaulted the whole server inside Arrow's JSON reader; 5,000 raised a
    RecursionError. The server must live and say one sentence."""
    data = hi.deep_json(world["tmp"] / f"deep{levels}.jsonl", levels)

    def go():
        path, notice = upload_notice(visitor, data)
        return notice, refused(visitor, config(world["bert"], path))

    notice, error = attack(world, other, go)
    assert DEEP in notice and DEEP in error, (notice, error)


def test_deep_json_compressed_inside_a_zipped_folder_is_refused(world, visitor, other):
    import gzip

    deep = hi.deep_json(world["tmp"] / "inner.jsonl", 20_000).read_bytes()
    flat = b'{"text": "fine", "label": "pos"}\n{"text": "bad", "label": "neg"}\n'
    members = {"data/train.jsonl.gz": gzip.compress(deep), "data/test.jsonl.gz": flat}
    archive = hostile.write_zip(world["tmp"] / "deep.zip", members)
    notice = attack(world, other, lambda: upload_notice(visitor, archive)[1])
    assert DEEP in notice, notice


def test_a_deep_hub_dataset_is_refused_through_the_script_api(world, visitor, other):
    def go():
        out = visitor.predict("evil-org/deep-json", None, None, api_name="/use_data")
        return out[-1], refused(visitor, config(world["bert"], "evil-org/deep-json"))

    notice, error = attack(world, other, go)
    assert DEEP in notice and DEEP in error, (notice, error)


# ---- 3. wide files -----------------------------------------------------------------------
@pytest.mark.parametrize("columns", [2_000, 100_000])
def test_a_wide_file_is_refused_by_the_column_cap(world, visitor, other, columns):
    data = hi.wide_csv(world["tmp"] / f"wide{columns}.csv", columns, rows=2)

    def go():
        path, notice = upload_notice(visitor, data)
        return notice, refused(visitor, config(world["bert"], path))

    notice, error = attack(world, other, go)
    sentence = f"has {columns:,} columns, over the limit of 1,000"
    assert sentence in notice and sentence in error, (notice, error)


# ---- 4. many classes ----------------------------------------------------------------------
def test_many_classes_are_capped_and_their_chart_is_bounded(world, visitor, other):
    data = hi.many_classes_csv(world["tmp"] / "classes.csv", 1_200)

    def go():
        out = visitor.predict(_handle(data), None, api_name=visitor.upload_api)
        return out, refused(visitor, config(world["bert"], out[0]))

    out, error = attack(world, other, go)
    sentence = "has 1,200 classes, over the 1,000 this dashboard trains (FINETUNE_MAX_CLASSES)"
    assert sentence in out[-1] and sentence in error, (out[-1], error)
    bars = _plot(out, "Examples per class")["data"][0]["x"]
    assert len(bars) == 30 and bars[-1] == "other (1,171 classes)", bars


def _handle(path):
    from gradio_client import handle_file

    return handle_file(str(path))


def _plot(outputs, title: str) -> dict:
    for value in outputs:
        plot = value.get("plot") if isinstance(value, dict) else None
        if isinstance(plot, str) and title in plot:
            return json.loads(plot)
    raise AssertionError(f"no plot titled {title!r} among the outputs")


# ---- 5. model configs that amplify, pickles, big tokenizers and id2labels -------------------
MODEL_CASES = [
    ("wide", "parameters by its config.json, over the 500.0 M this dashboard trains"),
    ("wider", "parameters by its config.json, over the 500.0 M this dashboard trains"),
    ("pickled", "only safetensors weights are loaded here"),
    ("id2label", "config.json of 4.9 MB, over the limit of 4 MB"),
]


@pytest.mark.parametrize(("name", "expected"), MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_a_model_that_would_amplify_is_refused_on_its_card_and_at_start(
    world, visitor, uploaded, other, name, expected
):
    def go():
        out = visitor.predict(f"evil-org/{name}", 128, None, api_name="/use_model")
        return out[-1], refused(visitor, config(f"evil-org/{name}", uploaded["good"]))

    notice, error = attack(world, other, go)
    assert expected in notice and expected in error, (notice, error)


def test_a_config_with_ten_million_labels_shows_its_card_in_bounded_memory(world, visitor, other):
    """num_labels: 10,000,000 once built a 10-million-entry id2label (7.9 GB, 149 s); the
    config's label count is ignored beyond what any data needs, so the card is cheap."""
    out = attack(
        world, other, lambda: visitor.predict("evil-org/labels", 128, None, api_name="/use_model")
    )
    assert "✗" not in str(out[-1]), out[-1]
    card = next(v for v in out if isinstance(v, str) and v.startswith("### evil-org/labels"))
    assert "parameters" in card


def test_the_host_memory_bounds_a_model_the_parameter_cap_allows(
    world, visitor, uploaded, other, monkeypatch
):
    monkeypatch.setenv("FINETUNE_MAX_PARAMS", "1e15")
    monkeypatch.setenv("FINETUNE_MAX_RSS_GB", "1")
    error = attack(
        world, other, lambda: refused(visitor, config("evil-org/wide", uploaded["good"]))
    )
    assert "for its weights alone, more than the 1.0 GB of this host" in error, error


def test_a_big_tokenizer_is_refused_before_it_is_loaded(
    world, visitor, uploaded, other, monkeypatch
):
    monkeypatch.setenv("FINETUNE_MAX_TOKENIZER_MB", "1")
    error = attack(
        world, other, lambda: refused(visitor, config("evil-org/big-tokenizer", uploaded["good"]))
    )
    assert "tokenizer.json of 2 MB, over the 1 MB this dashboard loads" in error, error
