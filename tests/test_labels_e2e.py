"""Labels as people write them, on every surface: `finetune inspect` (text and --json), the
dataset card through the page's handlers (local and Hub), data preparation across splits, and
a tiny training run from a comma-joined CSV that ends multi-label with the right classes."""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

import pytest
import tiny

from finetune_core import hub
from finetune_core.cli import commands
from finetune_core.config import RunConfig
from finetune_core.data import prepare
from finetune_core.train import run as train
from finetune_core.ui import data_tab, events, state

ROOT = Path(__file__).resolve().parent.parent
GOEMOTIONS = ROOT / "bench" / "data" / "goemotions" / "train.csv"
TREC = ROOT / "bench" / "data" / "trec" / "train.csv"
CAFE_NFD = unicodedata.normalize("NFD", "café")
# the tiny model's word classes, renamed: "neu" becomes "café" (written both ways below)
NAMES = {"pos": "pos", "neg": "neg", "neu": "café"}


def joined_rows(n=150, seed=0):
    """Sentences mixing the words of one or two classes; labels joined by ',' as a CSV has
    them, "café" decomposed in every third row and "pos " with a trailing space in some."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        picked = sorted(rng.sample(list(tiny.WORDS), 1 + (i % 3 == 0)))
        words = [w for label in picked for w in rng.sample(tiny.WORDS[label], 2)]
        rng.shuffle(words)
        names = [NAMES[p] for p in picked]
        if i % 3 == 1:
            names = [CAFE_NFD if n == "café" else n for n in names]
        if i % 7 == 2:
            names = [f"{n} " if n == "pos" else n for n in names]
        rows.append({"text": " ".join(words), "labels": ",".join(names)})
    return rows


@pytest.fixture(scope="module")
def joined_csv(tmp_path_factory):
    return tiny.write_csv(tmp_path_factory.mktemp("joined") / "tags.csv", joined_rows())


def inspect(*args, capsys) -> str:
    assert commands.main(["inspect", *map(str, args)]) == commands.EXIT_OK
    return capsys.readouterr().out


def test_inspect_reads_the_real_goemotions_file_as_28_labels(capsys):
    out = json.loads(inspect("--json", GOEMOTIONS, capsys=capsys))
    assert out["problem_type"] == "multi_label" and out["label_delimiter"] == ","
    assert out["num_labels"] == 28 and "neutral" in out["label_names"]
    assert out["label_note"].startswith("Label column 'labels' holds comma-joined labels in ")
    assert out["label_note"].endswith(": read as multi-label with 28 classes.")
    text = inspect(GOEMOTIONS, capsys=capsys)
    assert "labels (28, multi-label, joined by ','): admiration (" in text
    assert f"note: {out['label_note']}" in text


def test_inspect_keeps_the_real_question_types_single_label(capsys):
    out = json.loads(inspect("--json", TREC, capsys=capsys))
    assert out["problem_type"] == "single_label" and out["num_labels"] == 6
    assert out["label_delimiter"] is None and out["label_note"] is None


def test_inspect_names_the_delimiter_and_each_merged_spelling(joined_csv, capsys):
    out = inspect(joined_csv, capsys=capsys)
    assert "labels (3, multi-label, joined by ','): café (" in out
    assert "note: Label column 'labels' holds comma-joined labels in 50 of 150 rows" in out
    assert (
        "warning: Labels 'café' (2 spellings: composed and decomposed Unicode) are merged "
        "into one class."
    ) in out
    assert "warning: Labels 'pos' and 'pos ' (spaces) are merged into one class 'pos'." in out


def test_the_data_card_on_the_page_says_multi_label(joined_csv):
    card = data_tab.card(str(joined_csv))
    assert card["problem_type"] == "multi_label" and card["label_delimiter"] == ","
    assert card["label_names"] == ["café", "neg", "pos"]
    view = data_tab.card_view(card)
    assert "classes (3, multi-label, joined by ','): café, neg, pos" in view.markdown
    assert "read as multi-label with 3 classes" in view.markdown
    draft, card, msg = events.load_data(state.Draft(), str(joined_csv), None, None)
    assert draft.data.label_names == ["café", "neg", "pos"] and draft.num_labels == 3
    assert "spellings: composed and decomposed Unicode" in msg  # said where the page says it


def test_the_hub_card_reads_the_sample_the_same_way(fake_hub, joined_csv, tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "train.csv").write_bytes(joined_csv.read_bytes())
    fake_hub.add_dataset("labelsorg/tags", folder)
    card = hub.dataset_card("labelsorg/tags")
    assert (card.source, card.problem_type, card.label_delimiter) == ("hub", "multi_label", ",")
    assert card.label_names == ["café", "neg", "pos"] and not card.labels_complete
    assert "in 50 of 150 rows" in card.label_note  # the sample is the whole split here


def test_every_split_is_read_the_same_way(tmp_path):
    """A validation file that spells the classes differently still meets the train classes."""
    folder = tmp_path / "cities"
    train = [{"text": f"row {i}", "label": c} for i, c in enumerate(["Paris, France", "café"] * 6)]
    tiny.write_csv(folder / "train.csv", train)
    valid = [{"text": "a", "label": f"{CAFE_NFD} "}, {"text": "b", "label": " Paris, France"}]
    tiny.write_csv(folder / "validation.csv", valid)
    cfg = RunConfig.from_dict({"model": "unused", "dataset": str(folder)})
    data = prepare.prepare(cfg)
    assert not data.multi_label and data.label_names == ["Paris, France", "café"]
    assert data.eval["label"] == [1, 0]
    assert data.warnings[0] == (
        "Some labels in 'label' contain ',' but their parts are not labels of their own: read "
        "as single-label."
    )
    assert any(
        "'café' (2 spellings: composed and decomposed Unicode, spaces)" in w for w in data.warnings
    )


def test_problem_type_single_label_keeps_joined_cells_whole(joined_csv):
    cfg = RunConfig.from_dict(
        {"model": "unused", "dataset": str(joined_csv), "problem_type": "single_label"}
    )
    data = prepare.prepare(cfg)
    assert not data.multi_label and len(data.label_names) == 6  # the distinct whole cells
    assert {"café", "neg", "pos", "café,pos", "neg,café", "neg,pos"} == set(data.label_names)
    assert sum("problem_type is single_label" in w for w in data.warnings) == 1


def test_a_comma_joined_csv_trains_multi_label(joined_csv, tiny_bert, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(joined_csv), "output_dir": str(out)}
        | {"batch_size": 8, "max_length": 16, "epochs": 2, "seed": 3, "freeze": "none"}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label"
    assert config["label_names"] == ["café", "neg", "pos"]
    model_cfg = json.loads((out / "model" / "config.json").read_text())
    assert model_cfg["problem_type"] == "multi_label_classification"
    assert model_cfg["id2label"] == {"0": "café", "1": "neg", "2": "pos"}
    report = json.loads((out / "eval.json").read_text())
    assert report["label_names"] == ["café", "neg", "pos"]
    status = json.loads((out / "status.json").read_text())
    said = [w for w in status["warnings"] if "comma-joined labels" in w]
    assert len(said) == 1 and said[0].endswith("read as multi-label with 3 classes.")
    assert any("'café' (2 spellings" in w for w in status["warnings"])
