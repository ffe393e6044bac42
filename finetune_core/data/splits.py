"""Which rows train, which select and which report: the one rule.

Invariant: model selection (keep_best, early stopping, the learning-rate search, multi-label
thresholds) never sees the rows that eval.json reports on. So a run has three disjoint parts:

- report: `eval_split` when set; else the dataset's test split; else its validation split;
  else a stratified, seeded hold-out of train (`validation_fraction` of it);
- selection: the dataset's validation split when it is not the report split; else a stratified,
  seeded hold-out of train (`validation_fraction` of it, taken after the report hold-out);
- train: the rest of `train_split`.

Hold-outs are drawn with the run's seed, so a resumed run, the ONNX check and `finetune predict`
rebuild exactly the same parts from config.json.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from finetune_core.errors import DataError

VALIDATION_NAMES = ("validation", "valid", "val", "dev", "eval")
TEST_NAMES = ("test",)
MIN_HOLD_OUT_ROWS = 4  # below this, a hold-out holds no evidence of anything


@dataclass
class Parts:
    train: Any
    select: Any
    report: Any
    select_source: str  # "validation", or "held out 10% of train"
    report_source: str  # "test", or "held out 10% of train"


def _present(ds, names: tuple[str, ...], exclude: set[str]) -> str | None:
    return next((n for n in names if n in ds and n not in exclude and len(ds[n]) > 0), None)


def _hold_out(split, fraction: float, seed: int, label: str):
    """(rest, held out): stratified by the label when every class has two rows or more."""
    try:
        counts = Counter(split[label])
    except TypeError:  # multi-hot lists: no single class to stratify by
        counts = Counter()
    stratify = label if counts and min(counts.values()) >= 2 else None
    try:
        parts = split.train_test_split(test_size=fraction, seed=seed, stratify_by_column=stratify)
    except ValueError:  # too few rows per class for a stratified split
        parts = split.train_test_split(test_size=fraction, seed=seed)
    return parts["train"], parts["test"]


def split_parts(ds, cfg, label: str) -> Parts:
    """Train, selection and report parts of `ds` for the run `cfg` (see the module doc)."""
    if cfg.eval_split and cfg.eval_split == cfg.train_split:
        raise DataError(
            f"eval_split and train_split are both '{cfg.train_split}'; a model scored on its "
            "own training rows says nothing: choose another eval_split or leave it empty."
        )
    train = ds[cfg.train_split]
    taken = {cfg.train_split}
    report_name = cfg.eval_split or _present(ds, TEST_NAMES + VALIDATION_NAMES, taken)
    if report_name:
        taken.add(report_name)
    select_name = _present(ds, VALIDATION_NAMES, taken)
    held = f"held out {cfg.validation_fraction:.0%} of {cfg.train_split}"
    carve = (report_name is None) + (select_name is None)
    needed = MIN_HOLD_OUT_ROWS * (carve + 1)
    if carve and len(train) < needed:
        raise DataError(
            f"Split '{cfg.train_split}' has only {len(train)} rows; at least {needed} are "
            "needed to hold some out for "
            + ("selection and reporting" if carve == 2 else "model selection")
            + " (or give the dataset a validation split)."
        )
    fraction = cfg.validation_fraction
    if report_name:
        report, report_source = ds[report_name], report_name
    else:
        train, report = _hold_out(train, fraction, cfg.seed, label)
        report_source = held
    if select_name:
        select, select_source = ds[select_name], select_name
    else:
        # the same share of the original train split as the report hold-out
        share = fraction / (1 - fraction) if report_name is None else fraction
        train, select = _hold_out(train, min(share, 0.5), cfg.seed + 1, label)
        select_source = f"{held} for selection"
    return Parts(train, select, report, select_source, report_source)
