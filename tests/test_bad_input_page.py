"""Bad input through the page's handlers (the functions the events call): Train with odd
processes or accelerate configs, hostile config and data uploads, dataset cards of broken
data. Each asserts the one sentence and that nothing was left behind (no run folder, no
upload folder). The processes/accelerate rows belong to the jobs slice (atomic starts)."""

from __future__ import annotations

import hostile
import pytest
import tiny

from finetune_core import runs
from finetune_core.host import paths
from finetune_core.ui import data_tab, train_tab


def form(model, dataset) -> dict:
    return tiny.form(model=str(model), dataset=str(dataset), epochs=1, batch_size=4, max_length=16)


@pytest.fixture(scope="module")
def world(tmp_path_factory, text_csv):
    from finetune_core.jobs.manager import MANAGER

    yield _world(tmp_path_factory)
    MANAGER.shutdown()  # a start that should have been refused must not outlive the module


def _world(tmp_path_factory):
    root = tmp_path_factory.mktemp("page-cases")
    not_accelerate = root / "compose.yaml"
    not_accelerate.write_text("services:\n  web:\n    image: nginx\n")
    return {"root": root, "not_accelerate": not_accelerate}


def run_folders() -> set:
    root = runs.runs_root()
    return {p.name for p in root.iterdir()} if root.exists() else set()


# (case id, (processes, accelerate config) from the world, expected words)
START_CASES = [
    ("processes 100", lambda w: (100, None), "processes must be"),
    ("processes -1", lambda w: (-1, None), "processes must be"),
    ("accelerate config missing", lambda w: (2, str(w["root"] / "nope.yaml")), "does not exist"),
    (
        "not an accelerate config",
        lambda w: (2, str(w["not_accelerate"])),
        "is not an accelerate config",
    ),
]


@pytest.mark.parametrize(("case", "make", "expected"), START_CASES, ids=[c[0] for c in START_CASES])
def test_train_refusals_leave_no_run_folder(world, tiny_bert, text_csv, case, make, expected):
    processes, accelerate = make(world)
    before = run_folders()
    _, job_id, note = train_tab.start(
        None, form(tiny_bert, text_csv), None, None, processes, accelerate
    )
    assert job_id is None and expected in note, note
    assert run_folders() == before, "a refused start left a run folder"


def test_hosted_accelerate_config_must_be_the_hosts(world, tiny_bert, monkeypatch):
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    upload = paths.uploads_root() / "abcd1234" / "data.csv"
    tiny.write_csv(upload, tiny.text_rows(12))
    accel = upload.parent / "accelerate.json"
    accel.write_text('{"distributed_type": "MULTI_CPU", "num_processes": 2}')
    before = run_folders()
    _, job_id, note = train_tab.start(None, form("/etc", upload), None, None, 2, str(accel))
    assert job_id is None and "not available on this hosted dashboard" in note, note
    from finetune_core import preflight
    from finetune_core.config import RunConfig
    from finetune_core.errors import ConfigError

    cfg = RunConfig.from_dict({"model": "org/m", "dataset": str(upload)})
    with pytest.raises(ConfigError, match="Accelerate config accelerate.json is not available"):
        preflight.check(cfg, accelerate_config=str(accel))
    assert run_folders() == before


# (case id, config file text, expected words): the "Load a config file" upload
CONFIG_UPLOADS = [
    ("alias bomb", hostile.alias_bomb(), "anchor or alias"),
    ("anchor", "model: &m org/x\ndataset: y\n", "anchor or alias"),
    ("nested deep", "model: " + "[" * 10_000, "nested more than 20 levels"),
    ("over 1 MB", "model: x\n#" + "x" * 1_100_000, "over the 1 MB upload limit"),
    ("not a mapping", "- a\n- b\n", "must be a mapping"),
    ("unknown key", "model: x\ndataset: y\nlearning_rat: 1\n", "Unknown config key 'learning_rat'"),
]


@pytest.mark.parametrize(
    ("case", "text", "expected"), CONFIG_UPLOADS, ids=[c[0] for c in CONFIG_UPLOADS]
)
def test_config_uploads(tmp_path, case, text, expected):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    cfg, error = train_tab.config_upload(str(path))
    assert cfg is None and expected in error, error


# (case id, data file builder, expected words): the upload box, then the dataset card
DATA_CARDS = [
    (
        "JSON Lines with a garbage line",
        lambda t: _write(t / "g.jsonl", '{"text": "a", "label": "x"}\n{oops\n'),
        "g.jsonl line 2 is not a JSON object",
    ),
    (
        "CSV with a broken row",
        lambda t: _write(t / "b.csv", 'text,label\n"open quote,pos\nx,neg,extra\n' * 3),
        "malformed row",
    ),
    (
        "file in the wrong encoding",
        lambda t: _bytes(t / "l.csv", "text,label\ncafé,pos\n".encode("latin-1") * 4),
        "is not UTF-8 text",
    ),
    ("zip of images with broken ones", lambda t: _image_zip(t / "imgs.zip"), "Skipped 3 image(s)"),
]


def _write(path, text: str):
    path.write_text(text)
    return path


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def _image_zip(path):
    members = {f"red/r{i}.png": hostile.png_bytes((220, 20, 20)) for i in range(4)}
    members |= {f"blue/b{i}.png": hostile.png_bytes((20, 20, 220)) for i in range(4)}
    members |= {
        "red/cut.png": hostile.truncated_png(),
        "blue/text.png": b"hello",
        "red/bomb.png": hostile.bomb_png(),
    }
    return hostile.write_zip(path, members)


@pytest.mark.parametrize(("case", "make", "expected"), DATA_CARDS, ids=[c[0] for c in DATA_CARDS])
def test_uploaded_data_cards(tmp_path, case, make, expected):
    saved, notice = data_tab.upload(str(make(tmp_path)))
    assert "Uploaded" in notice, notice
    card = data_tab.card(saved)
    said = card.get("error") or " ".join(card.get("warnings") or [])
    assert expected in said, card
    assert "Traceback" not in said
