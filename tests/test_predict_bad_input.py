"""A table of hostile inputs for `finetune predict`: each gets one line on stderr saying what is
wrong and what to do, exit 1 (2 for bad usage), no traceback, no output file, and an existing
output file left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from predict_runs import text_run

from finetune_core.cli.commands import main

GOOD = "text,label\ngood great love,pos\n"
LATIN1 = "text\ncafé olé\n".encode("latin-1")
# (name, file name, content (bytes or str; None: do not create), expected words)
CASES = [
    ("empty file", "in.csv", b"", "in.csv is empty; give a file with rows to predict."),
    ("blank lines", "in.jsonl", "\n\n  \n", "in.jsonl is empty"),
    ("header only", "in.csv", "text,label\n", "in.csv has no rows; give a file with rows"),
    ("not UTF-8", "in.csv", LATIN1, "is not UTF-8 text; save it as UTF-8"),
    ("a spreadsheet", "in.xlsx", b"PK\x03\x04rest", "in.xlsx is not a supported data file"),
    ("plain text", "in.txt", "good great love\n", "in.txt is not a supported data file"),
    ("missing", "gone.csv", None, "Input {dir}/gone.csv does not exist; check the path."),
    (
        "an empty text",
        "in.csv",
        'text\ngood\n""\nbad\n',
        "Row 2 of in.csv has no text in column 'text'; fill it in or drop the row.",
    ),
    ("spaces only", "in.jsonl", '{"text": "ok"}\n{"text": "   "}\n', "Row 2 of in.jsonl has no"),
    ("a null text", "in.json", '[{"text": "ok"}, {"text": null}]', "Row 2 of in.json has no"),
    ("numbers", "in.csv", "text\n1\n2\n", "Row 1 of in.csv holds int 1 in column 'text', not text"),
    (
        "another column",
        "in.csv",
        "sentence,label\ngood,pos\n",
        "in.csv has no column 'text' (the run's text column); its columns are sentence, label",
    ),
    ("broken JSON", "in.json", '[{"text": "ok"', "in.json"),
    ("one JSON object", "in.json", '{"rows": 3}', "save the rows as a JSON list"),
    ("not Parquet", "in.parquet", b"PAR1 but not really", "not a parquet file"),
]


@pytest.fixture(scope="module")
def run(tiny_bert, tmp_path_factory) -> Path:
    return text_run(tiny_bert, tmp_path_factory)


def one_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize(("name", "file", "content", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_sentence_and_writes_nothing(
    run, tmp_path, capsys, name, file, content, words
):
    source = tmp_path / file
    if content is not None:
        source.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out" / "predictions.jsonl"
    out.parent.mkdir()
    out.write_text("kept\n")  # a previous good output
    argv = ["predict", str(run), "--input", str(source), "--output", str(out), "--quiet"]
    assert main(argv) == 1
    line = one_error(capsys)
    assert words.format(dir=tmp_path) in line, line
    assert out.read_text() == "kept\n" and [p.name for p in out.parent.iterdir()] == [out.name]


def test_bad_runs_and_outputs(run, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text(GOOD)
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    usage = [
        ([not_a_run, "--input", source], "This run has no saved model yet"),
        ([tmp_path / "nowhere", "--input", source], "This run has no saved model yet"),
        ([run, "--input", source, "--output", tmp_path / "o.parquet"], "not o.parquet"),
        ([run, "--input", source, "--output", tmp_path / "o.xlsx"], "JSON Lines (.jsonl) or CSV"),
        ([run, "--input", source, "--output", source], "in.csv is the input file"),
        ([run, "--input", source, "--output", tmp_path], "is a folder; name a file"),
        ([run, "--input", tmp_path], "is a folder; this text model reads a .csv"),
    ]
    for args, words in usage:
        assert main(["predict", *map(str, args)]) == 1, args
        line = one_error(capsys)
        assert words in line, (args, line)
    assert main(["predict", str(run), "--input", str(source), "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1" in one_error(capsys)
    with pytest.raises(SystemExit) as usage_error:  # argparse: --input is required
        main(["predict", str(run)])
    assert usage_error.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "not-a-run"]
