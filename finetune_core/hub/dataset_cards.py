"""Dataset info cards and the model/dataset compatibility check.

A Hub dataset card never downloads the whole dataset: the datasets library resolves the
data files (tree listing and README only), the first split is streamed for its first
SAMPLE_ROWS rows (features, detected columns, labels, preview), and rows are counted from
metadata: the README's dataset_info, parquet footers (read with range requests) or the
file count of image folders; split files under COUNT_MAX_BYTES are streamed and counted;
larger CSV/JSON splits stay uncounted (None). Label names are complete for ClassLabel
columns, else those seen in the sampled rows (`labels_complete` says which).

Column detection is finetune_core.data.load's (detect_columns / feature_kind) and the label
column is read by data/labels.py's survey, so the card and the training run agree. Local
files and folders go through data.summarize.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finetune_core.data import bounds, labels, media
from finetune_core.data.diagnose import check_hub_id
from finetune_core.data.load import (
    Columns,
    detect_columns,
    feature_kind,
    is_local,
    thumbnails,
)
from finetune_core.data.load import summarize as summarize_local
from finetune_core.data.multilabel import SINGLE
from finetune_core.errors import DataError, HubError
from finetune_core.host import limits, paths
from finetune_core.hub.model_cards import ModelCard, card_timeout, fail, repo_info
from finetune_core.hub.net import (
    TTLCache,
    endpoint,
    offline_reason,
    resolve_token,
    run_with_deadline,
    token_key,
)
from finetune_core.hub.offline import cached_snapshot

SAMPLE_ROWS = 200
COUNT_MAX_BYTES = 8_000_000
FOLDER_BUILDERS = ("imagefolder", "audiofolder", "videofolder")


@dataclass
class DatasetCard:
    id: str
    source: str  # hub | cache | local
    revision: str | None
    configs: list[str]
    config: str | None
    splits: dict[str, int | None]  # rows per split; None when not counted
    features: dict[str, str]
    text_column: str | None
    image_column: str | None
    label_column: str | None
    label_names: list[str]
    labels_complete: bool  # False: only the names seen in the sampled rows
    class_counts: dict[str, int]  # whole first split when local; the sampled rows on the Hub
    preview: list[dict[str, Any]]
    gated: bool = False
    license: str | None = None
    offline_reason: str | None = None
    thumbnails: list = field(default_factory=list)  # (small PIL image, label) for images
    warnings: list[str] = field(default_factory=list)  # e.g. unusable images skipped
    problem_type: str = SINGLE  # multi_label: lists, or labels joined by a delimiter
    label_delimiter: str | None = None  # what joins the labels of one cell (data/labels.py)
    label_note: str | None = None  # how the label column was read, when there was a question

    @property
    def imbalance(self) -> str | None:
        """One sentence when the classes are imbalanced enough to matter, else None."""
        return imbalance_note(self.class_counts)

    @property
    def task(self) -> str | None:
        if not (self.image_column or self.text_column):
            return None
        return Columns(text=self.text_column, image=self.image_column, label=None).task

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "task": self.task, "imbalance": self.imbalance}


IMBALANCE_RATIO = 3.0  # most / least frequent class; from here a plain loss favours the majority


def imbalance_note(counts: dict[str, int]) -> str | None:
    """ "'ham' has 87% of the rows, 'spam' 13% (6.7 : 1): ..." when most/least >= 3."""
    counts = {k: v for k, v in counts.items() if v > 0}
    if len(counts) < 2:
        return None
    total = sum(counts.values())
    top, low = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[top] / counts[low]
    if ratio < IMBALANCE_RATIO:
        return None
    return (
        f"Imbalanced classes: '{top}' has {counts[top] / total:.0%} of the rows, '{low}' "
        f"{counts[low] / total:.0%} ({ratio:.1f} : 1); class_weight: balanced makes the rare "
        "classes count as much in the loss, and macro F1 shows whether they are learned."
    )


_CARDS = TTLCache(ttl=None, max_items=128)  # (repo, sha, config, rows, token) -> card


def dataset_card(
    repo_id: str,
    *,
    config: str | None = None,
    token: str | None = None,
    preview_rows: int = 5,
    timeout: float | None = None,
) -> DatasetCard:
    """Configs, splits with row counts, features, detected columns, labels and first rows."""
    source = str(repo_id).strip()
    if not source:
        raise HubError("No dataset given; enter a Hub dataset id, a data file or a folder.")
    if is_local(source):
        return _local_card_in_time(source, preview_rows)
    check_hub_id(source)  # `csv`, `json`...: a file format, not a dataset
    token = resolve_token(token)
    if reason := offline_reason():  # HF_HUB_OFFLINE, or the Hub failed moments ago
        return _cached_card(source, reason, preview_rows)
    try:
        return run_with_deadline(
            lambda: _hub_card(source, config, token, preview_rows), card_timeout(timeout)
        )
    except Exception as exc:
        return fail("dataset", source, exc, lambda r: _cached_card(source, r, preview_rows))


def clear_dataset_cards() -> None:
    _CARDS.clear()


def _hub_card(repo_id: str, config: str | None, token: str | None, rows: int) -> DatasetCard:
    import datasets

    info = repo_info("dataset", repo_id, token)
    key = (repo_id, info.sha, config, rows, token_key(token))
    if (card := _CARDS.get(key)) is not None:
        return card
    if any(s.rfilename == "README.md" for s in info.siblings or []):
        check_hub_readme(repo_id, info.sha, token)  # before datasets parses it unbounded
    builder = datasets.load_dataset_builder(repo_id, name=config, token=token)
    files = {str(k): list(v) for k, v in (builder.config.data_files or {}).items()}
    paths.check_data_files(repo_id, files)  # hosted: a README may not point at server files
    if not files:
        raise HubError(f"Dataset {repo_id} has no data files the datasets library can read.")
    bounds.check_files(repo_id, files, token)  # JSON nesting, before Arrow's reader sees it
    sizes = {s.rfilename: s.size for s in info.siblings or [] if s.size is not None}
    splits = {
        name: _count_rows(builder, name, paths, sizes, token) for name, paths in files.items()
    }
    first = "train" if "train" in files else next(iter(files))
    stream = builder.as_streaming_dataset(split=first)
    sample = list(itertools.islice(_raw(stream), SAMPLE_ROWS))  # no file opened yet
    features = stream.features or datasets.Dataset.from_list(sample).features
    bounds.check_features(features, repo_id)
    media.check_rows(sample, features, repo_id)  # files the rows name: the path policy
    cols, found = _detect(features, sample, whole=splits.get(first) == len(sample))
    names = found.names if found else []
    complete = found is None or found.reading.classes is not None  # a ClassLabel lists all
    shown = _decoded(sample[: max(rows, 8)], features, repo_id, token)  # checked: now decoded
    card_data = info.card_data
    card = DatasetCard(
        id=repo_id,
        source="hub",
        revision=info.sha,
        configs=list(builder.builder_configs) or [builder.config.name],
        config=builder.config.name,
        splits=splits,
        features={k: feature_kind(f) for k, f in features.items()},
        text_column=cols.text,
        image_column=cols.image,
        label_column=cols.label,
        label_names=names,
        labels_complete=complete,
        class_counts=dict(sorted(found.counts.items())) if found else {},
        problem_type=found.reading.problem_type if found else SINGLE,
        label_delimiter=found.reading.delimiter if found else None,
        label_note=found.note if found else None,
        warnings=(found.warnings if found else []) + bounds.class_warnings(len(names), cols.label),
        preview=[_displayable(r) for r in shown[:rows]],
        thumbnails=thumbnails(shown[:8], cols, names),
        gated=bool(info.gated),
        license=getattr(card_data, "license", None) if card_data else None,
    )
    return _CARDS.put(key, card)


def check_hub_readme(repo_id: str, revision: str | None, token) -> None:
    """A Hub dataset's README front matter, bounded and alias-free (data/diagnose.py owns
    the check: the training path makes it too)."""
    from finetune_core.data.diagnose import check_hub_readme as check

    check(repo_id, revision, token)


def _count_rows(
    builder, split: str, urls: list[str], sizes: dict[str, int], token: str | None
) -> int | None:
    """Rows in a split from metadata, or by streaming it when its files are small."""
    known = builder.info.splits.get(split) if builder.info.splits else None
    if known is not None and known.num_examples:
        return known.num_examples
    paths = [u.split("@", 1)[1].split("/", 1)[1] if "@" in u else u for u in urls]
    if builder.name in FOLDER_BUILDERS:
        return sum(1 for p in paths if not Path(p).name.startswith("metadata."))
    if paths and all(p.endswith(".parquet") for p in paths):
        return _parquet_rows(urls, token)
    if sum(sizes.get(p, COUNT_MAX_BYTES + 1) for p in paths) <= COUNT_MAX_BYTES:
        return sum(1 for _ in _raw(builder.as_streaming_dataset(split=split)))
    return None


def _parquet_rows(urls: list[str], token: str | None) -> int:
    import pyarrow.parquet as pq
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(endpoint=endpoint(), token=token)
    total = 0
    for url in urls:
        with fs.open(url, "rb") as f:  # reads the footer only, through range requests
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def _detect(features, sample: list[dict[str, Any]], *, whole: bool) -> tuple[Columns, Any]:
    """Columns and how the label column reads (data/labels.py's survey: classes, counts, the
    delimiter), on the sample without images, as a training run would read them; `whole`:
    the sample is the whole split."""
    import datasets

    image = next((n for n, f in features.items() if feature_kind(f) == "image"), None)
    light = datasets.Features(
        {n: f for n, f in features.items() if feature_kind(f) not in ("image", "audio", "video")}
    )
    rows = [{k: r.get(k) for k in light} for r in sample]
    table = (
        datasets.Dataset.from_list(rows, features=light)
        if rows
        else datasets.Dataset.from_dict({k: [] for k in light}, features=light)
    )
    cols = detect_columns(table)
    if image:
        cols = Columns(text=None, image=image, label=cols.label)
    if cols.label is None:
        return cols, None
    return cols, labels.survey(datasets.DatasetDict({"sample": table}), cols.label, whole=whole)


def _raw(stream):
    """A stream whose images (and other media) stay as read: no file is opened for them.
    Without known features (CSV, JSON) the rows are plain values already."""
    return stream.decode(False) if stream.features is not None else stream


def _decoded(rows: list[dict[str, Any]], features, repo_id: str, token) -> list[dict[str, Any]]:
    """Rows with their images decoded, after media.check_rows passed them (bytes, or files of
    this repo fetched with the visitor's token); an image that fails to decode is left out."""
    out = []
    for row in rows:
        row = dict(row)
        for name, feature in features.items():
            if media.is_image(feature) and row.get(name) is not None:
                try:
                    row[name] = feature.decode_example(row[name], {repo_id: token})
                except Exception:  # a broken image: the gallery shows the others
                    row[name] = None
        out.append(row)
    return out


def _displayable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if hasattr(value, "size") and hasattr(value, "mode"):  # a PIL image
            value = f"<image {value.size[0]}x{value.size[1]}>"
        elif isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        elif isinstance(value, str) and len(value) > 500:
            value = value[:500] + "…"
        out[key] = value
    return out


def _local_card_in_time(source: str, rows: int) -> DatasetCard:
    """A local dataset's card under a deadline (FINETUNE_CARD_TIMEOUT): the page answers, and
    the reading left behind is bounded (data/bounds.py), so it ends on its own."""
    from finetune_core.hub.net import DeadlineExceeded

    seconds = limits.card_seconds()
    try:
        return run_with_deadline(lambda: _local_card(source, source, "local", rows), seconds)
    except DeadlineExceeded:
        raise DataError(
            f"Reading {Path(source).name} took longer than {seconds:g} s, the limit for a "
            "dataset card (FINETUNE_CARD_TIMEOUT); use a smaller file or fewer columns."
        ) from None


def _local_card(
    repo_id: str, path: str, source: str, rows: int, reason: str | None = None
) -> DatasetCard:
    summary = summarize_local(path, preview_rows=rows)
    return DatasetCard(
        id=repo_id,
        source=source,
        revision=None,
        configs=[],
        config=None,
        splits=summary.splits,
        features=summary.features,
        text_column=summary.columns.text,
        image_column=summary.columns.image,
        label_column=summary.columns.label,
        label_names=summary.label_names,
        labels_complete=True,
        class_counts=summary.class_counts,
        preview=summary.preview,
        offline_reason=reason,
        thumbnails=summary.thumbnails,
        warnings=summary.warnings
        + bounds.class_warnings(len(summary.label_names), summary.columns.label),
        problem_type=summary.problem_type,
        label_delimiter=summary.label_delimiter,
        label_note=summary.label_note,
    )


def _cached_card(repo_id: str, reason: str, rows: int) -> DatasetCard:
    """The card of a dataset repo already in the local Hugging Face cache."""
    folder = cached_snapshot("dataset", repo_id)
    if folder is not None:
        return _local_card(repo_id, str(folder), "cache", rows, reason)
    raise HubError(
        f"Dataset {repo_id} cannot be shown: {reason}, and it is not in the local cache."
    )


# ---- compatibility ---------------------------------------------------------------------
def compatibility(model: ModelCard, dataset: DatasetCard) -> str | None:
    """One sentence saying why this model cannot train on this dataset, or None if it can."""
    if dataset.label_column is None:
        return (
            f"Dataset {dataset.id} has no label column to learn from; pick a dataset with "
            "class labels or name its label column."
        )
    if dataset.task is None:
        return f"Dataset {dataset.id} has no text or image column to classify."
    if dataset.labels_complete and len(dataset.label_names) < 2:
        return (
            f"Dataset {dataset.id} has only one class in '{dataset.label_column}'; a "
            "classifier needs at least two."
        )
    if model.model_type and not model.can_classify:
        return (
            f"Model {model.id} ({model.model_type}) has no sequence or image "
            "classification class in transformers; pick another model."
        )
    if model.modality and model.modality != dataset.task:
        want = "an image" if dataset.task == "image" else "a text"
        kind = "an image" if model.modality == "image" else "a text"
        return (
            f"Model {model.id} is {kind} model but {dataset.id} is {want} dataset; pick "
            f"{want} model or {kind} dataset."
        )
    return None
