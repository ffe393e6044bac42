"""How a label column becomes classes (data/labels.py), on columns shaped like real data.

Invariants:
- A string label column is split by a delimiter d (',', ';' or '|') exactly when, among the
  cells holding d, at least 90% of the parts (by occurrence) are labels of their own (alone
  as a whole cell, or beside two different partners) and splitting leaves fewer distinct
  labels; its classes are then the distinct parts, else the distinct whole cells.
- Class names are NFC-normalised and trimmed; spellings that meet are one class, and each
  merged group gets one sentence; names differing only by case stay apart, with a warning.
- problem_type given explicitly wins; empty parts are dropped; an empty cell is "no label".
- The decision reads at most SCAN_ROWS rows; the classes come from every row of every split.
"""

from __future__ import annotations

import random
import unicodedata

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_core.data import labels
from finetune_core.errors import DataError

EMOTIONS = ["anger", "disgust", "joy", "neutral", "sadness", "surprise", "fear", "love"]
CAFE, CAFE_NFD = "café", unicodedata.normalize("NFD", "café")


def goemotions_like(n=300, seed=0, sep=","):
    """Mostly one emotion a row, a fifth of the rows two or three, joined as the CSV has them."""
    rng = random.Random(seed)
    rows = [rng.choice(EMOTIONS) for _ in range(n)]
    for i in range(0, n, 5):
        rows[i] = sep.join(rng.sample(EMOTIONS, 2 + i % 2))
    return rows


def survey(values, problem_type="auto", **splits):
    ds = {"train": datasets.Dataset.from_dict({"labels": values})}
    ds |= {name: datasets.Dataset.from_dict({"labels": v}) for name, v in splits.items()}
    return labels.survey(datasets.DatasetDict(ds), "labels", problem_type)


CITIES = ["Paris, France", "London", "Berlin", "Lyon, France", "Madrid", "Paris, Texas"] * 5
PAIRS = ["drama,comedy", "action,drama", "comedy,action", "drama,romance", "romance,comedy"]
AUTHORS = ["Austen, Jane", "Bronte, Charlotte", "Bronte, Emily", "Bronte, Anne", "Dickens, C"]
SHOPS = ["Electronics, Phones", "Electronics, Laptops", "Home, Kitchen", "Home, Garden"] * 3
MONEY = ["1,000", "2,000", "3,000", "1,500", "2,500", "3,500", "500"] * 3
SENTIMENT = ["pos", "neg", "neu"] * 20

# (case, cells, problem_type, reading, delimiter, classes or None (= the distinct cells), note)
CASES = [
    ("comma-joined names", goemotions_like(), "auto", "multi", ",", EMOTIONS, "comma-joined"),
    ("'a; b' with spaces", goemotions_like(sep="; "), "auto", "multi", ";", EMOTIONS, "semicolon"),
    ("a|b", goemotions_like(sep="|"), "auto", "multi", "|", EMOTIONS, "pipe-joined"),
    ("cities", CITIES, "auto", "single", None, None, "Some labels in 'labels' contain ','"),
    ("authors", AUTHORS * 3, "auto", "single", None, None, "are not labels of their own"),
    ("category, subcategory", SHOPS, "auto", "single", None, None, "read as single-label"),
    ("2 joined rows", [*SENTIMENT, "pos,neg", "neg, neu"], "auto", "multi", ",", None, "2 of 62"),
    ("2 cities", [*SENTIMENT, "Paris, France", "Rome, It"], "auto", "single", None, None, "','"),
    ("thousands", MONEY, "auto", "single", None, None, None),
    ("emoji", ["😀", "😢", "🔥", "😀,😢", "😢,🔥,😀"] * 4, "auto", "multi", ",", None, "comma"),
    ("every row joined", PAIRS * 4, "auto", "multi", ",", None, "20 of 20 rows"),
    ("trailing comma", ["a,b,", "a", "b", "c,", "a,,c"] * 3, "auto", "multi", ",", None, "in 9 of"),
    ("forced single", goemotions_like(), "single_label", "single", None, None, "single_label:"),
    ("forced multi, cities", CITIES, "multi_label", "multi", None, None, "a set of one label"),
    ("forced multi, joined", goemotions_like(), "multi_label", "multi", ",", EMOTIONS, "comma"),
    ("no delimiter", SENTIMENT, "auto", "single", None, None, None),
]


@pytest.mark.parametrize(("case", "cells", "asked", "kind", "sep", "classes", "note"), CASES)
def test_label_columns_people_write(case, cells, asked, kind, sep, classes, note):
    found = survey(cells, asked)
    assert found.reading.problem_type == f"{kind}_label", (case, found.note)
    assert found.reading.delimiter == sep, case
    if classes is None and kind == "multi":
        parts = (p.strip() for c in cells for p in c.split(sep or "\0"))
        classes = {p for p in parts if p}
    elif classes is None:
        classes = set(cells)
    assert found.names == sorted(classes), case
    if note is None:
        assert found.note is None, (case, found.note)
    else:
        assert found.note and note in found.note, (case, found.note)


def test_the_sentence_names_the_delimiter_rows_example_and_classes():
    found = survey(goemotions_like(300))
    assert found.note == (
        "Label column 'labels' holds comma-joined labels in 60 of 300 rows "
        f'("{goemotions_like(300)[0]}"): read as multi-label with 8 classes.'
    )
    cities = survey(CITIES)
    assert cities.note == (
        "Some labels in 'labels' contain ',' but their parts are not labels of their own: "
        "read as single-label."
    )
    forced = survey(goemotions_like(300), "single_label")
    cells = len(set(goemotions_like(300)))
    assert forced.note.endswith(
        f"but problem_type is single_label: each whole cell is one class ({cells} classes)."
    )
    assert len(forced.names) == cells


def test_empty_parts_and_empty_cells_are_no_label():
    cells = ["joy,anger", "", ",", None, "joy,,", " , anger ,", "anger", "joy"]
    found = survey(cells)
    assert found.reading.delimiter == "," and found.names == ["anger", "joy"]
    assert [found.reading.labels(c) for c in cells] == [
        ["joy", "anger"],
        [],
        [],
        [],
        ["joy"],
        ["anger"],
        ["anger"],
        ["joy"],
    ]
    assert found.counts == {"joy": 3, "anger": 3}
    with pytest.raises(DataError, match="blank label"):  # single-label: a row needs a class
        survey(["joy", "anger", " "], "single_label").check_filled()


def test_composed_decomposed_and_spaced_spellings_are_one_class_in_every_split():
    found = survey(
        [CAFE, "thé", "spam", CAFE] * 3, validation=[CAFE_NFD, "spam ", "thé"], test=["Spam"]
    )
    assert found.reading.problem_type == "single_label"
    assert found.names == ["Spam", "café", "spam", "thé"]  # case twins stay apart
    assert all(unicodedata.is_normalized("NFC", n) for n in found.names)
    assert found.warnings == [
        "Labels 'café' (2 spellings: composed and decomposed Unicode) are merged into one class.",
        "Labels 'spam' and 'spam ' (spaces) are merged into one class 'spam'.",
        "Label column 'labels' has classes that differ only by case ('Spam', 'spam'); they are "
        "trained as different classes: clean the labels if they mean the same.",
    ]
    assert found.counts == {CAFE: 6, "thé": 3, "spam": 3}  # the first split's rows


def test_merging_in_a_multi_label_column_and_emoji():
    found = survey([f"{CAFE},😀", f"{CAFE_NFD}, 😀", CAFE, "😀", "thé,😀", "thé"] * 3)
    assert found.reading.delimiter == "," and found.names == sorted([CAFE, "thé", "😀"])
    assert found.warnings == [
        "Labels 'café' (2 spellings: composed and decomposed Unicode) are merged into one class."
    ]  # ", " after a delimiter is how people write lists, not a second spelling


def test_lists_stay_lists_and_single_label_refuses_them():
    ds = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"labels": [["a ", "b"], ["a"], []]})}
    )
    found = labels.survey(ds, "labels")
    assert found.reading.problem_type == "multi_label" and found.names == ["a", "b"]
    assert found.note is None and "spaces" in found.warnings[0]
    with pytest.raises(DataError, match="problem_type to multi_label"):
        labels.survey(ds, "labels", "single_label")


def test_class_labels_and_ints_keep_their_order():
    feature = datasets.ClassLabel(names=["zeta", "alpha "])
    ds = datasets.Dataset.from_dict(
        {"labels": [0, 1, 1]}, features=datasets.Features(labels=feature)
    )
    found = labels.survey(datasets.DatasetDict({"train": ds}), "labels")
    assert found.names == ["zeta", "alpha"] and found.counts == {"zeta": 1, "alpha": 2}
    ints = survey([10, 2, 1, 2])
    assert ints.names == ["1", "2", "10"] and ints.note is None
    encoded = labels.encode(
        datasets.DatasetDict({"train": datasets.Dataset.from_dict({"labels": [10, 2, 1]})}), ints
    )
    assert encoded["train"]["labels"] == [2, 1, 0]


def test_class_label_names_that_meet_are_renumbered():
    feature = datasets.ClassLabel(names=["zeta", "alpha ", "alpha", CAFE_NFD])
    rows = datasets.Dataset.from_dict(
        {"labels": [0, 1, 2, 3, -1]}, features=datasets.Features(labels=feature)
    )
    ds = datasets.DatasetDict({"train": rows})
    found = labels.survey(ds, "labels")
    assert found.names == ["zeta", "alpha", CAFE]
    assert "'alpha' and 'alpha ' (spaces)" in found.warnings[0]
    encoded = labels.encode(ds, found)["train"]
    assert encoded.features["labels"].names == ["zeta", "alpha", CAFE]
    assert encoded["labels"] == [0, 1, 1, 2, -1]  # -1: datasets' "no label", left as it is


def test_the_decision_reads_only_the_first_rows_and_the_classes_every_row():
    plain = ["pos", "neg"] * (labels.SCAN_ROWS // 2)
    late = survey([*plain, "pos,neg"])  # joined only after the scan: not evidence
    assert late.reading.problem_type == "single_label" and late.note is None
    assert late.names == ["neg", "pos", "pos,neg"]
    early = survey(["pos,neg", *plain])
    assert early.reading.delimiter == ","
    assert "in 1 of the first 20,000 rows" in early.note


def test_a_sampled_split_speaks_of_the_first_rows():
    ds = datasets.DatasetDict({"sample": datasets.Dataset.from_dict({"labels": PAIRS})})
    assert "of the first 5 rows" in labels.survey(ds, "labels", whole=False).note


# ---- trying to break it ----------------------------------------------------------------
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéü😀", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    vocab=st.lists(WORD, min_size=3, max_size=12, unique=True),
    sep=st.sampled_from([",", ", ", ";", " ; ", "|"]),
    seed=st.integers(0, 10_000),
)
def test_joined_labels_are_always_found(vocab, sep, seed):
    """Any vocabulary, any delimiter and spacing: every label once alone, then random sets."""
    rng = random.Random(seed)
    rows = [*vocab, sep.join(rng.sample(vocab, 2))]
    for _ in range(rng.randint(0, 30)):
        rows.append(sep.join(rng.sample(vocab, rng.randint(1, min(4, len(vocab))))))
    rng.shuffle(rows)
    found = survey(rows)
    assert found.reading.problem_type == "multi_label", found.note
    assert found.reading.delimiter == sep.strip()
    assert found.names == sorted({unicodedata.normalize("NFC", w) for w in vocab})


@settings(max_examples=60, deadline=None)
@given(
    places=st.lists(WORD, min_size=2, max_size=12, unique=True),
    regions=st.lists(WORD, min_size=1, max_size=3, unique=True),
    sep=st.sampled_from([", ", ",", "; ", "|"]),
    seed=st.integers(0, 10_000),
)
def test_names_with_a_delimiter_inside_are_never_split(places, regions, sep, seed):
    """'Place, Region' labels (each place once) beside plain ones: the parts are not labels."""
    rng = random.Random(seed)
    plain = [f"plain{i}" for i in range(3)]
    joined = [f"{p}{sep}{rng.choice(regions)}" for p in places if p not in regions]
    if not joined:
        return
    rows = [rng.choice(plain + joined) for _ in range(40)] + plain + joined
    found = survey(rows)
    assert found.reading.problem_type == "single_label", (rows, found.note)
    assert found.names == sorted({unicodedata.normalize("NFC", r).strip() for r in rows})
