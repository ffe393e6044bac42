"""The bounds behind issue 20's input side, each tried on its own: the nesting scan, linear
column detection, metrics and charts that stay small with many classes, the size estimate of
a model config, the path policy for files named in rows, and data text that stays text."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import hostile_input as hi
import numpy as np
import pytest

from finetune_core import charts, inert
from finetune_core.data import detect
from finetune_core.errors import DataError, ModelError
from finetune_core.host import paths
from finetune_core.jsonfiles import json_depth
from finetune_core.model import size
from finetune_core.train import class_bounds, evaluation, multilabel_metrics


# ---- nesting ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'{"a": 1}\n{"b": [1, {"c": [2]}]}\n', 4),
        (b'{"a": "[[[[[[ {{{{"}\n', 1),  # brackets inside a string are text
        (rb'{"a": "\"[[[", "b": [1]}' + b"\n", 2),  # an escaped quote does not end it
        (rb'{"a": "x\\", "b": [[1]]}' + b"\n", 3),  # an escaped backslash does not escape
        (rb'{"a": "x\\\"[", "b": 1}' + b"\n", 1),
        (b"[" * 20_000 + b"]" * 20_000, 20_000),
        (b'{"a":\n[\n[\n1\n]\n]\n}', 3),  # one document over many lines
    ],
)
def test_the_nesting_scan_counts_only_brackets_outside_strings(tmp_path, text, depth):
    path = tmp_path / "data.json"
    path.write_bytes(text)
    assert json_depth(path, limit=10**9) == depth


def test_the_nesting_scan_never_recurses_and_reads_compressed_files(tmp_path):
    deep = b'{"x": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}\n"  # 2 MB, a million levels
    path = tmp_path / "deep.jsonl.gz"
    path.write_bytes(gzip.compress(deep))
    assert json_depth(path, limit=10**9) == 1_000_001
    assert json_depth(path) > 64  # the default limit: it stops reading once past it


# ---- columns --------------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [8, 900])
def test_column_detection_reads_the_rows_once_whatever_the_width(columns, monkeypatch):
    """Every `dataset[...]` read copies every column's feature in the datasets library, so
    one read per column made detection quadratic (a 26 kB CSV of 2,000 columns took 79 s).
    The reads are counted (the real method still runs): one, for 8 or 900 columns."""
    import datasets

    data = {f"c{i}": [f"w{r % 3}" for r in range(20)] for i in range(columns)}
    data["text"] = [f"a longer message number {r} about something" for r in range(20)]
    split = datasets.Dataset.from_dict(data)
    reads = []
    real = datasets.Dataset.__getitem__

    def counted(self, key):
        reads.append(key)
        return real(self, key)

    monkeypatch.setattr(datasets.Dataset, "__getitem__", counted)
    cols = detect.detect_columns(split)
    assert cols.text == "text" and cols.label == "c0"
    assert len(reads) == 1, len(reads)


def test_the_column_cap_reads_only_the_header_of_a_csv(tmp_path):
    from finetune_core.data import bounds

    path = hi.wide_csv(tmp_path / "wide.csv", 1_001, rows=1)
    with pytest.raises(DataError, match="has 1,001 columns, over the limit of 1,000"):
        bounds.check_file(path)
    bounds.check_file(hi.wide_csv(tmp_path / "ok.csv", 1_000, rows=1))


# ---- many classes -------------------------------------------------------------------------
def test_a_report_on_twenty_thousand_classes_stays_small():
    """The dense 20,000 x 20,000 matrix alone was 3.2 GB (19 GB with its Python lists)."""
    n, rows = 20_000, 500
    rng = np.random.default_rng(0)
    labels = rng.integers(0, n, rows)
    logits = rng.normal(size=(rows, n)).astype(np.float32)
    logits[np.arange(rows), labels] += 5  # mostly right
    names = [f"class {i}" for i in range(n)]
    tracemalloc.start()
    report = evaluation.report(logits, labels, names)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 400 * 2**20, f"{peak / 2**20:.0f} MB"  # logits in float64 and their softmax
    matrix = report["confusion_matrix"]
    assert len(matrix) == 50 and all(len(r) == 50 for r in matrix)
    assert sum(map(sum, matrix)) == rows
    assert report["confusion_labels"][-1] == "other (19,951 classes)"
    assert len(report["per_class"]) == n


def test_a_small_report_keeps_the_full_matrix_in_label_order():
    labels, preds = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1])
    out = class_bounds.confusion(labels, preds, ["a", "b", "c"])
    assert out == {"confusion_matrix": [[1, 0, 0], [0, 1, 1], [0, 0, 2]]}
    tp, predicted, actual = class_bounds.counts(labels, preds, 3)
    assert tp.tolist() == [1, 1, 2] and predicted.tolist() == [1, 1, 3]
    assert actual.tolist() == [1, 2, 2]


def test_folded_matrix_keeps_every_count():
    labels = np.array([0] * 5 + [1] * 4 + [2] * 3 + [3] * 2 + [4])
    preds = np.array([0, 0, 1, 4, 3, 1, 1, 1, 0, 2, 2, 4, 3, 0, 4])
    out = class_bounds.confusion(labels, preds, list("abcde"), limit=3)
    assert out["confusion_labels"] == ["a", "b", "other (3 classes)"]
    assert out["confusion_matrix"] == [[2, 1, 2], [1, 3, 0], [1, 0, 5]]


def test_the_majority_label_set_is_found_without_a_python_object_per_cell():
    y = np.zeros((6, 3000), dtype=bool)
    y[[0, 2, 4], 7] = True
    y[[1, 3], 9] = True
    share, _, top = multilabel_metrics.majority(y)
    assert share == pytest.approx(0.5) and np.flatnonzero(top).tolist() == [7]


def test_charts_show_at_most_thirty_classes_and_keep_the_total():
    counts = {f"c{i}": 1000 - i for i in range(200)}
    bars = charts.class_balance_figure(counts).data[0]
    assert len(bars.x) == 30 and bars.x[-1] == "other (171 classes)"
    assert sum(bars.y) == sum(counts.values())
    matrix = np.eye(40, dtype=int) * 3
    fig = charts.confusion_figure(matrix.tolist(), [f"c{i}" for i in range(40)])
    z = fig.data[0].z
    assert len(z) == 30 and sum(map(sum, z)) == matrix.sum()


def test_a_matrix_eval_json_folded_is_charted_with_one_other():
    """eval.json keeps the top 49 of 20,000 classes and "other" (the largest row); the chart
    draws 29 of those and one "other" that counts every class it does not draw."""
    labels = np.concatenate([np.arange(20_000), np.repeat(np.arange(60), 50)])  # 60 frequent
    names = [f"c{i}" for i in range(20_000)]
    folded = class_bounds.confusion(labels, labels, names)
    assert folded["confusion_labels"][-1] == "other (19,951 classes)"
    fig = charts.confusion_figure(
        folded["confusion_matrix"], folded["confusion_labels"], classes=len(names)
    )
    shown = list(fig.data[0].y)
    assert len(shown) == 30 and [n for n in shown if n.startswith("other")] == shown[-1:]
    assert shown[-1] == "other (19,971 classes)"
    assert sum(map(sum, fig.data[0].z)) == len(labels)


def test_the_results_table_lists_the_largest_classes_and_says_how_many_more(tmp_path):
    from finetune_core import runs
    from finetune_core.ui import results_tab

    run = runs.RunDir(tmp_path / "run")
    run.path.mkdir()
    runs.RunWriter(run).finish("completed")
    per_class = {
        f"c{i}": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": i} for i in range(300)
    }
    labels = [*[f"c{i}" for i in range(299, 250, -1)], "other (251 classes)"]
    ev = {
        "accuracy": 1.0,
        "f1_macro": 1.0,
        "num_examples": 10,
        "per_class": per_class,
        "label_names": list(per_class),
        "confusion_matrix": [[0] * 50 for _ in range(50)],
        "confusion_labels": labels,
    }
    run.write_json(run.eval_path, ev)
    s = results_tab.summary(run.path)
    assert len(s["per_class"]) == 51 and s["per_class"][-1][0].startswith("… 250 more classes")
    assert {r[0] for r in s["per_class"][:50]} == {f"c{i}" for i in range(250, 300)}
    assert s["labels"] == labels


# ---- model configs ----------------------------------------------------------------------------
def test_the_size_estimate_from_a_config_matches_the_built_models(tiny_bert, tiny_vit):
    from finetune_core.model import bundled_model_path, inspect_model

    for folder in (tiny_bert, tiny_vit, Path(bundled_model_path())):
        config = json.loads((folder / "config.json").read_text())
        built = inspect_model(str(folder), num_labels=3).total_params
        assert size.estimate_params(config, 3) == pytest.approx(built, rel=0.05), folder


def test_a_config_is_read_within_bounds(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"a": ' + "[" * 100 + "]" * 100 + "}")
    with pytest.raises(ModelError, match="nested too deeply"):
        size.read_config(deep, "m")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a JSON object"):
        size.read_config(listed, "m")
    assert size.label_overrides({"num_labels": 10_000_000}) == {"num_labels": 2}
    assert size.label_overrides({"num_labels": 21_843}) == {}


def test_a_bundled_model_is_never_refused_for_its_size(monkeypatch):
    from finetune_core.model import bundled_model_path

    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    config = json.loads((Path(bundled_model_path()) / "config.json").read_text())
    assert size.check_size(config, "minilm") == pytest.approx(22.7e6, rel=0.01)


def test_pickled_weights_are_refused_everywhere(tiny_bert, tmp_path):
    from finetune_core.model import check_weights

    folder = hi.model_variant(tiny_bert, tmp_path / "pickled", weights="pickled")
    with pytest.raises(ModelError, match=r"only pickled weights \(pytorch_model.bin\); only"):
        check_weights(str(folder))
    check_weights(str(tiny_bert))


def test_a_slow_tokenizer_load_ends_in_one_sentence(tiny_bert):
    from finetune_core.model.processor import load_processor

    with pytest.raises(ModelError, match="tokenizer took longer than 0 s to load"):
        load_processor(str(tiny_bert), "text", None, seconds=0)
    assert load_processor(str(tiny_bert), "text", None) is not None


# ---- files named in rows, locally and hosted ----------------------------------------------
def test_the_row_path_policy_locally_and_hosted(tmp_path, monkeypatch):
    inside = tmp_path / "data"
    inside.mkdir()
    (inside / "a.png").write_bytes(b"x")
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(b"x")
    home = paths.MediaHome(inside.resolve())
    assert paths.media_refusal(str(inside / "a.png"), home) is None
    assert paths.media_refusal(str(elsewhere), home) is None  # locally: the owner's files
    assert "relative" in paths.media_refusal("a.png", home)
    assert "URL" in paths.media_refusal("https://x.org/a.png", home)
    assert "folder" in paths.media_refusal(str(inside), home)
    assert "does not exist" in paths.media_refusal(str(inside / "b.png"), home)
    monkeypatch.setenv("FINETUNE_HOSTED", "1")
    assert "outside this dataset (elsewhere.png)" in paths.media_refusal(str(elsewhere), home)
    link = inside / "link.png"
    link.symlink_to(elsewhere)  # a link inside that leads out
    assert "outside this dataset" in paths.media_refusal(str(link), home)
    hub = paths.MediaHome(None, "org/data")
    assert paths.media_refusal("hf://datasets/org/data@abc/img/a.png", hub) is None
    assert "URL" in paths.media_refusal("hf://datasets/org/other@abc/a.png", hub)
    assert "URL" in paths.media_refusal("hf://datasets/org/data@abc/../../x/a.png", hub)


def test_a_local_card_has_a_deadline(tmp_path, monkeypatch):
    from finetune_core.hub import dataset_cards

    monkeypatch.setenv("FINETUNE_CARD_TIMEOUT", "0.001")
    data = hi.many_classes_csv(tmp_path / "slowish.csv", 50)
    with pytest.raises(DataError, match=r"Reading slowish.csv took longer than 0.001 s"):
        dataset_cards.dataset_card(str(data))


# ---- data text stays text -------------------------------------------------------------------
def test_markup_in_names_stays_text_in_markdown_and_charts():
    for label in hi.MARKUP_LABELS:
        md = inert.md(label)
        assert "<" not in md and "://" not in md and "@" not in md, md
    fig = charts.class_balance_figure({label: 3 for label in hi.MARKUP_LABELS})
    shown = list(fig.data[0].x)
    assert shown[0] == '&lt;a href="https://evil.example/x"&gt;click&lt;/a&gt;'
    assert not any("<" in name for name in shown)
    heat = charts.confusion_figure([[1, 0], [0, 1]], ["<b>x</b>", "<b>x</b>"]).data[0]
    assert list(heat.x) == ["&lt;b&gt;x&lt;/b&gt;", "&lt;b&gt;x&lt;/b&gt; #2"]  # still two


def test_the_model_card_lists_classes_as_text_and_bounded():
    from finetune_core.train.model_card import classes_line

    line = classes_line(list(hi.MARKUP_LABELS) + [f"c{i}" for i in range(200)])
    assert line.startswith("- Classes (205): &lt;a href=") and line.endswith(", and 105 more")
    assert "<" not in line and "https://" not in line
