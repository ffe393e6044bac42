"""`finetune predict RUN_DIR --input FILE [--output FILE]`: every input format and both
outputs, input order kept whatever the lengths, image folders, bounded memory, and one
sentence (exit 1, nothing written) for each kind of bad input.

Invariants: one record per input row, in input order, {"prediction", "scores"} (plus "file"
for an image folder); a row's record does not depend on which rows surround it; a failure
leaves no output file behind and an existing one untouched."""

from __future__ import annotations

import csv
import json
import random
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import predict_runs
import pytest
import tiny
from cli_run import error_line, finetune
from predict_runs import data_dir, image_run, text_run, varied_rows

from finetune_core import predict
from finetune_core.cli.commands import main
from finetune_core.predict.file import predict_file

LABELS = ["neg", "neu", "pos"]


@pytest.fixture(scope="module")
def run(tiny_bert, tmp_path_factory) -> Path:
    return text_run(tiny_bert, tmp_path_factory)


@pytest.fixture(scope="module")
def rows(run) -> list[dict]:
    with (data_dir(run) / "test.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[dict]:
    """The CSV output as the JSON Lines records it stands for."""
    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    return [
        {"prediction": r["prediction"], "scores": {n: float(r[f"score_{n}"]) for n in LABELS}}
        for r in table
    ]


def assert_records(got: list[dict], want: list[predict.Prediction]) -> None:
    assert len(got) == len(want)
    for record, expected in zip(got, want, strict=True):
        assert set(record) == {"prediction", "scores"}
        assert record["prediction"] == expected.prediction
        assert list(record["scores"]) == LABELS
        assert record["scores"] == pytest.approx(expected.scores, rel=1e-5, abs=1e-6)


# ---- as a person runs it -----------------------------------------------------------------
def test_the_command_writes_records_in_order_with_progress_on_stderr(run, rows, tmp_path):
    test_csv = data_dir(run) / "test.csv"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    commands = {
        "file": ("predict", run, "--input", test_csv, "--output", tmp_path / "out.jsonl"),
        "stdout": ("predict", run, "--input", test_csv),
        "empty": ("predict", run, "--input", empty, "--output", tmp_path / "never.jsonl"),
    }
    with ThreadPoolExecutor(2) as pool:
        done = {k: pool.submit(finetune, *args) for k, args in commands.items()}
        results = {k: f.result() for k, f in done.items()}
    want = predict.classify(run, [r["text"] for r in rows])
    to_file = results["file"]
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == ""  # the data went to the file
    assert_records(read_jsonl(tmp_path / "out.jsonl"), want)
    assert f"{len(rows)}/{len(rows)}" in to_file.stderr and "rows/s" in to_file.stderr
    assert f"Predicted {len(rows)} rows" in to_file.stderr and "Traceback" not in to_file.stderr
    to_stdout = results["stdout"]
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert_records([json.loads(line) for line in to_stdout.stdout.splitlines()], want)
    assert f"{len(rows)}/{len(rows)}" in to_stdout.stderr
    line = error_line(results["empty"])
    assert line == "error: empty.csv is empty; give a file with rows to predict."
    assert results["empty"].returncode == 1 and not (tmp_path / "never.jsonl").exists()


def write_input(path: Path, rows: list[dict]) -> Path:
    """`rows` in the format its name says."""
    suffix = path.suffix
    if suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(rows[0])
            writer.writerows([list(r.values()) for r in rows])
    elif suffix == ".tsv":  # as TSV files are written: no quoting
        lines = ["\t".join(rows[0]), *("\t".join(map(str, r.values())) for r in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix == ".jsonl":
        tiny.write_jsonl(path, rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_input_format_and_both_outputs(run, suffix, tmp_path, capsys):
    rows = varied_rows(25, seed=7)
    rows[3]["text"] = 'she said "great", then, well; ok\ttabs'  # quotes, commas, a tab
    rows[4]["text"] = "café naïve — 漢字 🙂"
    if suffix == ".tsv":
        rows[3]["text"] = rows[3]["text"].replace("\t", " ")  # TSV holds no tab in a cell
    source = write_input(tmp_path / f"in{suffix}", rows)
    want = predict.classify(run, [r["text"] for r in rows])
    for out, read in (("out.jsonl", read_jsonl), ("out.csv", read_csv)):
        assert (
            main(["predict", str(run), "--input", str(source), "--output", str(tmp_path / out)])
            == 0
        )
        assert_records(read(tmp_path / out), want)
    assert "error" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.jsonl", "out.csv", source.name]
    )


def test_a_tsv_output_and_extra_columns_in_the_input(run, tmp_path):
    rows = [
        {"id": i, "label": "pos", "text": r["text"]} for i, r in enumerate(varied_rows(6, seed=2))
    ]
    source = write_input(tmp_path / "in.csv", rows)
    assert (
        main(["predict", str(run), "--input", str(source), "--output", str(tmp_path / "o.tsv")])
        == 0
    )
    lines = (tmp_path / "o.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["prediction", "score_neg", "score_neu", "score_pos"]
    assert len(lines) == 7


def test_order_is_kept_with_rows_of_very_different_lengths(run, tmp_path):
    """Each record is that row's own prediction, whatever the chunk and batch around it:
    rows alternate between 3 words and past max_length, shuffled, in chunks of 7."""
    rng = random.Random(5)
    rows = varied_rows(40, seed=4)
    for i, row in enumerate(rows):
        if i % 2:
            row["text"] = " ".join(rng.choice(tiny.WORDS["neu"]) for _ in range(80)) + " good"
    rng.shuffle(rows)
    source = write_input(tmp_path / "order.jsonl", rows)
    out = source.with_name("order-out.jsonl")
    seen = []
    result = predict_file(run, source, out, lambda d, t: seen.append((d, t)), chunk=7, batch_size=3)
    assert result.rows == 40 and seen == [(0, 40), *[(min(40, 7 * k), 40) for k in range(1, 7)]]
    records = read_jsonl(out)
    assert len(records) == 40
    for row, record in zip(rows, records, strict=True):
        alone = predict.predict(run, row["text"])  # a batch of one: no padding, no neighbours
        assert record["scores"] == pytest.approx(alone, rel=1e-4, abs=1e-6), row["text"][:40]
        assert record["prediction"] == max(alone, key=alone.get)


def test_memory_stays_bounded_by_the_chunk_not_the_file(run, tmp_path):
    """Python memory while predicting 8x more rows grows by far less than 8x: records are
    written a chunk at a time, never all held (scores dicts, texts, encodings)."""
    small = write_input(tmp_path / "small.csv", varied_rows(300, seed=8))
    large = write_input(tmp_path / "large.csv", varied_rows(2400, seed=9))
    predict_file(run, small, tmp_path / "warm.jsonl", chunk=100)  # loads the model, imports

    def peak(source: Path) -> int:
        tracemalloc.start()
        try:
            predict_file(run, source, tmp_path / f"{source.stem}.jsonl", chunk=100)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_peak, large_peak = peak(small), peak(large)
    assert len(read_jsonl(tmp_path / "large.jsonl")) == 2400
    assert large_peak < 2 * small_peak, (small_peak, large_peak)


# ---- image folders -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def image(tiny_vit, image_folder, tmp_path_factory) -> Path:
    return image_run(tiny_vit, image_folder, tmp_path_factory)


def test_an_image_folder_is_predicted_file_by_file_in_sorted_order(image, image_folder, tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    sources = sorted(image_folder.rglob("*.png"))[::3]
    for i, src in enumerate(sources):  # nested folders, names that sort differently
        target = folder / ("b" if i % 2 else "a") / f"{10 - i}.png"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(src.read_bytes())
    (folder / ".DS_Store").write_bytes(b"\0\1")  # hidden: not an input
    (folder / "metadata.jsonl").write_text("{}\n")  # an image folder's metadata: not an input
    out = tmp_path / "images.csv"
    assert main(["predict", str(image), "--input", str(folder), "--output", str(out)]) == 0
    with out.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert [r["file"] for r in table] == names
    for row in table:
        with Image.open(folder / row["file"]) as im:
            alone = predict.predict(image, im.convert("RGB"))  # the playground's path
        assert row["prediction"] == max(alone, key=alone.get)
        assert float(row["score_red"]) == pytest.approx(alone["red"], rel=1e-4, abs=1e-6)
    assert (
        main(["predict", str(image), "--input", str(folder), "--output", str(tmp_path / "i.jsonl")])
        == 0
    )
    records = read_jsonl(tmp_path / "i.jsonl")
    assert [list(r) for r in records] == [["file", "prediction", "scores"]] * len(names)


def test_an_image_folder_with_a_non_image_is_one_sentence(image, tmp_path, capsys):
    folder = tmp_path / "mixed"
    tiny.make_image_folder(folder, per_class=2)
    (folder / "red" / "notes.txt").write_text("not a picture")
    out = tmp_path / "never.jsonl"
    assert main(["predict", str(image), "--input", str(folder), "--output", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: red/notes.txt in mixed cannot be used (not an image); remove it or replace "
        "it with an image."
    )
    assert not out.exists()
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert main(["predict", str(image), "--input", str(empty)]) == 1
    assert "holds no files" in capsys.readouterr().err
    text_file = write_input(tmp_path / "t.csv", varied_rows(3, seed=1))
    assert main(["predict", str(image), "--input", str(text_file)]) == 1
    assert (
        "has no column 'image' (the run's image column); its columns are text, label"
        in capsys.readouterr().err
    )


def test_the_results_step_predicts_a_zip_of_images(image, image_folder, tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("FINETUNE_UPLOADS_DIR", str(tmp_path / "uploads"))
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for png in sorted(image_folder.rglob("*.png"))[:5]:
            z.write(png, f"photos/{png.parent.name}/{png.name}")
    path, note = predict_runs.predict_upload(image, archive, False)
    assert path and "Predicted 5 rows" in note, note
    records = read_jsonl(Path(path))
    assert [r["file"].split("/")[0] for r in records] == ["blue"] * 5  # sorted: blue/ first
    assert all(r["prediction"] in ("blue", "red") for r in records)
    assert list((tmp_path / "uploads").iterdir()) == []  # the unpacked copy is gone
