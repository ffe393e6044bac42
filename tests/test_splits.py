"""Which rows train, select and report (data/splits.py).

Invariant: the three parts are disjoint, so model selection (keep_best, early stopping, the
learning-rate search, multi-label thresholds) never sees a row that eval.json reports on; the
report part is eval_split when given, else the dataset's test split, else its validation
split, else a hold-out; selection is a validation split that is not the reported one, else a
hold-out; hold-outs are seeded (the same config gives the same parts) and stratified."""

from collections import Counter

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_core.config import RunConfig
from finetune_core.data import splits
from finetune_core.errors import DataError

NAMES = ["train", "validation", "test", "dev"]


def dataset(sizes: dict[str, int], classes: int = 3) -> datasets.DatasetDict:
    parts, start = {}, 0
    for name, n in sizes.items():
        ids = list(range(start, start + n))
        labels = [i % classes for i in ids]
        features = datasets.Features(
            {"id": datasets.Value("int64"), "label": datasets.ClassLabel(num_classes=classes)}
        )  # labels are encoded before the split, as data/prepare.py does
        parts[name] = datasets.Dataset.from_dict({"id": ids, "label": labels}, features=features)
        start += n
    return datasets.DatasetDict(parts)


def cfg(**extra) -> RunConfig:
    return RunConfig.from_dict({"model": "m", "dataset": "d", **extra})


def ids(split) -> set[int]:
    return set(split["id"])


@settings(max_examples=60, deadline=None)
@given(
    train=st.integers(12, 300),
    others=st.dictionaries(st.sampled_from(NAMES[1:]), st.integers(1, 50)),
    fraction=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
    seed=st.integers(0, 5),
    pick=st.sampled_from([None, "validation", "test", "dev"]),
)
def test_selection_never_sees_the_reported_rows(train, others, fraction, seed, pick):
    ds = dataset({"train": train, **others})
    eval_split = pick if pick in others else None
    parts = splits.split_parts(
        ds, cfg(validation_fraction=fraction, seed=seed, eval_split=eval_split), "label"
    )
    t, s, r = ids(parts.train), ids(parts.select), ids(parts.report)
    assert t and s and r
    assert not (t & s) and not (t & r) and not (s & r)  # disjoint: the invariant
    expected = eval_split or next((n for n in ("test", "validation", "dev") if n in others), None)
    if expected:
        assert parts.report_source == expected and r == ids(ds[expected])
    else:
        assert parts.report_source.startswith("held out") and r <= ids(ds["train"])
    validation = next((n for n in ("validation", "dev") if n in others and n != expected), None)
    if validation:
        assert parts.select_source == validation and s == ids(ds[validation])
    else:
        assert parts.select_source.endswith("for selection") and s <= ids(ds["train"])
    assert parts.select_source != parts.report_source
    again = splits.split_parts(
        ds, cfg(validation_fraction=fraction, seed=seed, eval_split=eval_split), "label"
    )
    assert (ids(again.train), ids(again.select), ids(again.report)) == (t, s, r)  # seeded


def test_two_hold_outs_of_the_same_size_and_stratified():
    ds = dataset({"train": 1000}, classes=4)
    parts = splits.split_parts(ds, cfg(validation_fraction=0.1), "label")
    assert (len(parts.train), len(parts.select), len(parts.report)) == (800, 100, 100)
    for part in (parts.select, parts.report):
        assert Counter(part["label"]) == {0: 25, 1: 25, 2: 25, 3: 25}
    assert parts.report_source == "held out 10% of train"
    assert parts.select_source == "held out 10% of train for selection"


@pytest.mark.parametrize(
    ("sizes", "extra", "message"),
    [
        ({"train": 7}, {}, "at least 12 are needed to hold some out for selection and reporting"),
        ({"train": 5, "test": 3}, {}, "at least 8 are needed to hold some out for model selection"),
        ({"train": 40}, {"eval_split": "train"}, "eval_split and train_split are both 'train'"),
    ],
)
def test_too_little_data_or_the_train_split_reported_is_one_sentence(sizes, extra, message):
    with pytest.raises(DataError) as err:
        splits.split_parts(dataset(sizes), cfg(**extra), "label")
    assert message in str(err.value) and "\n" not in str(err.value)
