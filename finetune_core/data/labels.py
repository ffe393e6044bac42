"""Label columns as people write them: the one rule for how a label column becomes classes,
asked by `finetune inspect`, the dataset card and training alike.

- A class name is the label NFC-normalised and trimmed (`name`): "café" typed composed and
  decomposed, or "spam" and "spam ", is one class, and a warning names each merged group.
  Names that differ only by case stay separate classes, with a warning.
- A string column whose cells join labels with ',', ';' or '|' ("anger,disgust", "a; b") is
  multi-label when the evidence says so (`evidence`): among the cells holding the delimiter,
  at least 90% of the parts (by occurrence) are labels of their own (they occur alone as a
  whole cell, or beside at least two different partners), and splitting leaves fewer distinct
  labels than there were distinct cells. "Paris, France" beside "London" fails both; so do
  numbers written "1,000", which are never split. The scan reads the first SCAN_ROWS rows of
  the column, so a large dataset's card stays fast; the reading then applies to every split.
- problem_type given explicitly wins: single_label keeps a delimiter column whole (said once),
  multi_label splits by the detected delimiter, else reads each cell as a set of one label.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from finetune_core.data import multilabel
from finetune_core.data.multilabel import MULTI, SINGLE
from finetune_core.errors import DataError

SCAN_ROWS = 20_000
DELIMITERS = {",": "comma", ";": "semicolon", "|": "pipe"}
SUPPORT = 0.9  # share of a joined cell's parts that must be labels of their own
NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")  # 1,000 and 12,345.6 are not two labels
SHOWN_GROUPS = 10


def name(value: Any) -> str:
    """A label as a class name: NFC-normalised and trimmed, so one visible name is one class."""
    return unicodedata.normalize("NFC", str(value)).strip()


def split_cell(cell: str, delimiter: str | None) -> list[str]:
    """The labels a cell joins with `delimiter`, as written (spaces around the delimiter and
    empty parts dropped); a number like "1,000" is one label."""
    if not delimiter or delimiter not in cell or _is_number(cell, delimiter):
        return [cell]
    parts = re.split(rf"\s*{re.escape(delimiter)}\s*", cell)
    return [p for p in parts if p.strip()]


def _is_number(cell: str, delimiter: str) -> bool:
    return delimiter == "," and NUMBER.fullmatch(cell.strip()) is not None


@dataclass(frozen=True)
class Evidence:
    """What the first rows say about one candidate delimiter."""

    delimiter: str
    joined_rows: int  # scanned rows whose cell holds the delimiter (numbers excepted)
    support: float  # share of those cells' parts, by occurrence, that are labels of their own
    shrinks: bool  # splitting leaves fewer distinct labels than there were distinct cells
    example: str  # the first such cell

    @property
    def accepted(self) -> bool:
        return self.support >= SUPPORT and self.shrinks


def evidence(values: list, delimiter: str) -> Evidence | None:
    """The evidence for `delimiter` in a label column's cells; None when no cell holds it."""
    cells = Counter(v for v in values if isinstance(v, str))
    joined = {c: n for c, n in cells.items() if delimiter in c and not _is_number(c, delimiter)}
    if not joined:
        return None
    alone = {name(c) for c in cells if c not in joined} - {""}
    parts = {c: [name(p) for p in split_cell(c, delimiter)] for c in joined}
    partners: dict[str, set[frozenset]] = defaultdict(set)
    for found in parts.values():
        for part in found:
            partners[part].add(frozenset(found))
    own = {p for p, sets in partners.items() if p in alone or len(sets) >= 2}
    total = sum(len(found) * joined[c] for c, found in parts.items())
    known = sum(sum(p in own for p in found) * joined[c] for c, found in parts.items())
    before = alone | {name(c) for c in joined}
    example = next(v for v in values if isinstance(v, str) and v in joined)
    return Evidence(
        delimiter=delimiter,
        joined_rows=sum(joined.values()),
        support=known / total if total else 0.0,
        shrinks=len(alone | set(partners)) < len(before),
        example=example,
    )


@dataclass(frozen=True)
class Reading:
    """How a label column is read: single- or multi-label, and the delimiter that joins the
    labels of one cell (multi-label strings only)."""

    column: str
    problem_type: str
    delimiter: str | None = None
    classes: tuple[str, ...] | None = None  # a ClassLabel's names, for its integer cells

    def raw(self, cell: Any) -> list:
        """The labels of one cell as written, before normalising (numbers stay numbers)."""
        if cell is None:
            return []
        values = list(cell) if isinstance(cell, list | tuple) else [cell]
        out: list = []
        for value in values:
            if value is None:
                continue
            if self.classes is not None and isinstance(value, int):
                if 0 <= value < len(self.classes):  # -1: no label, as datasets writes it
                    out.append(self.classes[value])
            elif isinstance(value, str) and self.problem_type == MULTI:
                out += split_cell(value, self.delimiter)
            else:
                out.append(value)
        return out

    def labels(self, cell: Any) -> list[str]:
        """The class names of one cell, each once (empty: no label)."""
        return list(dict.fromkeys(n for n in map(name, self.raw(cell)) if n))


@dataclass
class Survey:
    """A label column read once in every split: the reading, the classes (sorted; ints
    numerically; a ClassLabel's own order), rows per class in the first split, the sentence
    saying how it was read, and warnings about merged or look-alike names."""

    reading: Reading
    names: list[str]
    counts: dict[str, int]
    note: str | None = None
    warnings: list[str] = field(default_factory=list)
    missing: dict[str, tuple[int, int]] = field(default_factory=dict)  # split -> (None, blank)

    @property
    def sentences(self) -> list[str]:
        """The note and the warnings, for a run's status.json."""
        return ([self.note] if self.note else []) + self.warnings

    def check_filled(self) -> None:
        """Single-label: every row needs a class name (multi-label allows none)."""
        column = self.reading.column
        for split, (empty, blank) in self.missing.items():
            if empty:
                raise DataError(
                    f"Label column '{column}' has {empty} empty value(s) in split "
                    f"'{split}'; fill them in or drop those rows."
                )
            if blank:
                raise DataError(
                    f"Label column '{column}' has {blank} blank label(s) in split '{split}'; "
                    "a class needs a name: fill them in or drop those rows."
                )


def column_values(split, column: str, limit: int | None = None) -> list:
    """One column as Python values, read once (a Column object reads row by row, 200x slower)."""
    rows = len(split) if limit is None else min(limit, len(split))
    return split.select_columns([column])[:rows][column] if rows else []


def survey(
    ds, column: str, problem_type: str = "auto", *, split: str | None = None, whole: bool = True
) -> Survey:
    """Read label column `column` of every split of DatasetDict `ds` once and decide how it is
    read; `split` is the one whose first rows decide (default: the first); `whole` False says
    the rows are a sample (the sentence then speaks of "the first N rows")."""
    first_name = split if split is not None else next(iter(ds))
    feature = ds[first_name].features[column]
    values = {n: column_values(s, column) for n, s in ds.items()}
    scanned = values[first_name][:SCAN_ROWS]
    reading, found = decide(feature, scanned, problem_type, column)
    keys = {n: Counter(_hashable(v) for v in vals) for n, vals in values.items()}
    spellings: dict[str, set[str]] = defaultdict(set)
    seen: set = set()
    for counter in keys.values():
        for cell in counter:
            for raw in reading.raw(cell):
                if not isinstance(raw, str):
                    seen.add(raw)  # sorted as a number, named as text
                elif label := name(raw):
                    spellings[label].add(raw)
                    seen.add(label)
    names = _names(feature, reading, seen)
    counts: Counter = Counter()
    for cell, n in keys[first_name].items():
        for label in reading.labels(cell):
            counts[label] += n
    missing = {n: _missing(c, reading) for n, c in keys.items()}
    whole = whole and len(scanned) == len(values[first_name])
    rows = f"{len(scanned):,}" if whole else f"the first {len(scanned):,}"
    note = _note(reading, found, len(names), rows)
    warnings = merged_warnings(spellings) + case_warnings(names, column)
    return Survey(reading, names, dict(counts), note, warnings, missing)


def decide(
    feature: Any, sample: list, problem_type: str, column: str
) -> tuple[Reading, dict[str, Evidence] | None]:
    """The reading of a label column from its feature and first rows, with the evidence for
    each delimiter found in them (None: the cells are lists already)."""
    import datasets

    element = multilabel.inner(feature)
    labelled = element if isinstance(element, datasets.ClassLabel) else feature
    classes = tuple(labelled.names) if isinstance(labelled, datasets.ClassLabel) else None
    if multilabel.is_label_list(feature):
        if problem_type == SINGLE:
            raise DataError(
                f"Label column '{column}' holds lists of labels but problem_type is "
                "single_label; set problem_type to multi_label (or auto)."
            )
        return Reading(column, MULTI, None, classes), None
    strings = isinstance(feature, datasets.Value) and "string" in feature.dtype
    found = {d: e for d in DELIMITERS if strings and (e := evidence(sample, d))}
    best = max(
        (e for e in found.values() if e.accepted),
        key=lambda e: (e.support, e.joined_rows),
        default=None,
    )
    if problem_type == SINGLE or (problem_type != MULTI and best is None):
        return Reading(column, SINGLE, None, classes), found
    return Reading(column, MULTI, best.delimiter if best else None, classes), found


def _note(
    reading: Reading, found: dict[str, Evidence] | None, classes: int, rows: str
) -> str | None:
    """The one sentence that says how a label column is read, where there was a question: a
    delimiter in some cells, or multi_label asked of a column of single labels."""
    if found is None:  # lists: nothing to decide
        return None
    column = reading.column
    best = found.get(reading.delimiter or "") or max(
        (e for e in found.values() if e.accepted), key=lambda e: e.support, default=None
    )
    if best is not None:
        joined = (
            f"Label column '{column}' holds {DELIMITERS[best.delimiter]}-joined labels in "
            f'{best.joined_rows:,} of {rows} rows ("{_short(best.example)}")'
        )
        if reading.problem_type == SINGLE:
            return (
                f"{joined}, but problem_type is single_label: each whole cell is one class "
                f"({classes:,} classes)."
            )
        return f"{joined}: read as multi-label with {classes:,} classes."
    if reading.problem_type == MULTI:  # asked for, with no delimiter found
        return (
            f"problem_type is multi_label but label column '{column}' holds one label per row "
            "(no lists, no labels joined by ',', ';' or '|'): each cell is read as a set of "
            f"one label ({classes:,} classes)."
        )
    if found:
        marks = " or ".join(f"'{d}'" for d in found)
        return (
            f"Some labels in '{column}' contain {marks} but their parts are not labels of "
            f"their own: read as {reading.problem_type.replace('_', '-')}."
        )
    return None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _names(feature: Any, reading: Reading, seen: set) -> list[str]:
    if reading.classes is not None:  # a ClassLabel: its own order, every declared name
        return list(dict.fromkeys(n for n in map(name, reading.classes) if n))
    return list(dict.fromkeys(name(v) for v in _sort_values(seen)))


def _sort_values(values: set) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _missing(cells: Counter, reading: Reading) -> tuple[int, int]:
    if reading.classes is not None:  # a ClassLabel's -1 is datasets' "no label" (test splits)
        return 0, 0
    empty = cells.get(None, 0)
    blank = sum(n for c, n in cells.items() if c is not None and not reading.labels(c))
    return empty, blank


# ---- encoding ------------------------------------------------------------------------
def encode(ds, found: Survey):
    """The label column as the Trainer takes it, the same classes in every split: multi-hot
    vectors (multi-label) or a ClassLabel of the survey's names (strings and ints alike)."""
    import datasets

    label, names = found.reading.column, found.names
    if found.reading.problem_type == MULTI:
        return multilabel.encode(ds, label, names, found.reading.labels)
    found.check_filled()
    first = next(iter(ds.values()))
    feature = first.features[label]
    index = {n: i for i, n in enumerate(names)}
    if isinstance(feature, datasets.ClassLabel):
        if list(feature.names) == names:
            return ds
        # normalising merged or renamed some of its names: renumber the rows
        new = [index.get(name(n), -1) for n in feature.names]

        def to_index(batch: dict) -> dict:
            return {label: [new[v] if 0 <= v < len(new) else v for v in batch[label]]}
    else:

        def to_index(batch: dict) -> dict:
            return {label: [index[name(v)] for v in batch[label]]}

    features = first.features.copy()
    features[label] = datasets.ClassLabel(names=names)
    return ds.map(to_index, batched=True, features=features, desc="Encoding labels")


# ---- warnings ------------------------------------------------------------------------
def merged_warnings(spellings: dict[str, set[str]]) -> list[str]:
    """One sentence per class that more than one spelling was merged into."""
    out = []
    for label, raws in spellings.items():
        raws = {r for r in raws if isinstance(r, str)}
        if len(raws) < 2:
            continue
        kinds = []
        if len({r.strip() for r in raws}) > 1:
            kinds.append("composed and decomposed Unicode")
        if any(r != r.strip() for r in raws):
            kinds.append("spaces")
        if "spaces" in kinds and len(kinds) == 1:
            shown = " and ".join(repr(r) for r in sorted(raws, key=lambda r: (len(r), r)))
            out.append(f"Labels {shown} (spaces) are merged into one class {label!r}.")
        else:
            out.append(
                f"Labels {label!r} ({len(raws)} spellings: {', '.join(kinds)}) are merged "
                "into one class."
            )
    if len(out) > SHOWN_GROUPS:
        more = f"{len(out) - SHOWN_GROUPS} more label groups are merged the same way."
        out = [*out[:SHOWN_GROUPS], more]
    return out


def case_warnings(names: list[str], column: str) -> list[str]:
    """A warning when class names differ only by case ("neg", "NEG"): kept apart, but said."""
    groups: dict[str, list[str]] = {}
    for label in names:
        groups.setdefault(label.casefold(), []).append(label)
    alike = [g for g in groups.values() if len(g) > 1]
    if not alike:
        return []
    shown = "; ".join(", ".join(repr(n) for n in g) for g in alike[:3])
    return [
        f"Label column '{column}' has classes that differ only by case ({shown}); they are "
        "trained as different classes: clean the labels if they mean the same."
    ]
