"""Bad data and odd settings through `finetune` (in process, and a few real subprocesses): each
gives exit code 1 and one line naming the file, line, column or variable, and leaves no run
folder behind (or one marked failed with the same reason). A second table checks inputs that
used to lose rows or mislead and now load, with a warning where one is due."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import hostile
import pytest
import tiny

from finetune_core.cli import commands as cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("data-cases")
    rows = tiny.text_rows(12)
    out = {"good": tiny.write_csv(root / "good.csv", rows)}
    (root / "empty-text.csv").write_text("text,label\n" + ",pos\n,neg\n" * 6)
    out["empty_text"] = root / "empty-text.csv"
    out["blank_label"] = tiny.write_jsonl(
        root / "blank.jsonl", [*rows, {"text": "x", "label": " "}]
    )
    (root / "noext").write_bytes((root / "good.csv").read_bytes())
    out["noext"] = root / "noext"
    garbage = root / "garbage.jsonl"
    garbage.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[1]) + "\nnot json at all\n")
    out["garbage"] = garbage
    mixed = root / "mixed"
    tiny.write_csv(mixed / "a.csv", rows)
    tiny.write_csv(mixed / "b.csv", rows, rename={"text": "sentence"})
    out["mixed"] = mixed
    (root / "one.json").write_text(json.dumps(rows[0]))
    (root / "wrapped.json").write_text(json.dumps({"data": rows}))
    out["one_json"], out["wrapped_json"] = root / "one.json", root / "wrapped.json"
    (root / "a-file").write_text("not a folder")
    out["a_file"] = root / "a-file"
    corrupt = root / "corrupt-run"
    corrupt.mkdir()
    (corrupt / "config.json").write_text('{"model": "x", "dataset":')
    (corrupt / "status.json").write_text('{"state": "failed"}')
    out["corrupt_run"] = corrupt
    out["images"] = hostile.image_folder(root / "images", {})
    return out


def train(args: list[str], tmp_path: Path, env: dict | None = None, monkeypatch=None):
    """`finetune train ...` in this process: (exit code, stderr lines, run folder)."""
    out = tmp_path / "run"
    if "--resume" not in args and "--output-dir" not in args:
        args = [*args, "--output-dir", str(out)]
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    err = io.StringIO()
    with redirect_stderr(err):
        code = cli.main(["train", *args, "--quiet"])
    return code, [line for line in err.getvalue().splitlines() if line.strip()], out


def base(files, tiny_bert, dataset=None, **extra) -> list[str]:
    args = ["--model", str(tiny_bert), "--dataset", str(dataset or files["good"])]
    args += ["--epochs", "1", "--batch-size", "4", "--max-length", "16"]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


# (case id, args from (files, tiny_bert, tiny_vit), env, expected words)
CASES = [
    (
        "text column empty in every row",
        lambda f, b, v: base(f, b, f["empty_text"]),
        {},
        "'text' is empty in every row",
    ),
    (
        "label column is the text column",
        lambda f, b, v: base(f, b, text_column="text", label_column="text"),
        {},
        "cannot be both the label column and the text column",
    ),
    (
        "max_length beyond the positions",
        lambda f, b, v: base(f, b, max_length=100_000),
        {},
        "reads at most 64 tokens",
    ),
    (
        "FINETUNE_CACHE_MAX_GB=abc",
        lambda f, b, v: base(f, b, freeze="backbone"),  # a cache to size
        {"FINETUNE_CACHE_MAX_GB": "abc"},
        "FINETUNE_CACHE_MAX_GB must be a number of gigabytes, not 'abc'",
    ),
    (
        "FINETUNE_MAX_RSS_GB=abc",
        lambda f, b, v: base(f, b, freeze="none"),
        {"FINETUNE_MAX_RSS_GB": "abc"},
        "FINETUNE_MAX_RSS_GB must be a number of gigabytes",
    ),
    (
        "FINETUNE_MAX_IMAGE_PIXELS=lots",
        lambda f, b, v: base(f, v, f["images"]),
        {"FINETUNE_MAX_IMAGE_PIXELS": "lots"},
        "FINETUNE_MAX_IMAGE_PIXELS must be a positive whole number",
    ),
    (
        "dataset_config on one file",
        lambda f, b, v: base(f, b, dataset_config="en"),
        {},
        "only applies to Hub datasets and folders; good.csv is a single file",
    ),
    ("blank label", lambda f, b, v: base(f, b, f["blank_label"]), {}, "has 1 blank label(s)"),
    (
        "file without an extension",
        lambda f, b, v: base(f, b, f["noext"]),
        {},
        "use .csv, .tsv, .json, .jsonl or .parquet",
    ),
    (
        "JSON Lines with a garbage line",
        lambda f, b, v: base(f, b, f["garbage"]),
        {},
        "garbage.jsonl line 3 is not a JSON object",
    ),
    (
        "folder of CSVs with different columns",
        lambda f, b, v: base(f, b, f["mixed"]),
        {},
        "a.csv and b.csv have different columns",
    ),
    (
        "a file format as a dataset id",
        lambda f, b, v: base(f, b, "csv"),
        {},
        "'csv' is a file format, not a dataset",
    ),
    (
        "JSON file that is one object",
        lambda f, b, v: base(f, b, f["one_json"]),
        {},
        "one.json is one JSON object, so it reads as a single row",
    ),
    (
        "JSON rows under one key",
        lambda f, b, v: base(f, b, f["wrapped_json"]),
        {},
        "one JSON object under the key 'data'",
    ),
    (
        "output_dir that is a file",
        lambda f, b, v: [*base(f, b), "--output-dir", str(f["a_file"])],
        {},
        "is a file",
    ),
    (
        "resume with a corrupt config.json",
        lambda f, b, v: ["--resume", str(f["corrupt_run"])],
        {},
        "config.json is not valid JSON",
    ),
]


@pytest.mark.parametrize(("case", "make", "env", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cli(files, tiny_bert, tiny_vit, tmp_path, monkeypatch, case, make, env, expected):
    code, lines, out = train(make(files, tiny_bert, tiny_vit), tmp_path, env, monkeypatch)
    assert code == 1, lines
    assert len(lines) == 1 and expected in lines[0], lines
    if out.exists():  # a run that started says why it failed
        status = json.loads((out / "status.json").read_text())
        assert status["state"] == "failed" and expected in status["error"]


# real processes: the config bombs must answer at once, with one line and exit code 1
PROCESS_CASES = [
    (
        "YAML alias bomb",
        lambda t: _write(t / "bomb.yaml", hostile.alias_bomb()),
        "anchor or alias (& or *) at line 3",
    ),
    (
        "config file of 5 MB",
        lambda t: _write(t / "big.yaml", "model: x\n#" + "x" * 5_000_000),
        "over the limit of 1,000,000",
    ),
    (
        "config nested 100,000 deep",
        lambda t: _write(t / "deep.json", "[" * 100_000),
        "nested more than 20 levels deep",
    ),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("case", "make", "expected"), PROCESS_CASES, ids=[c[0] for c in PROCESS_CASES]
)
def test_cli_process(tmp_path, case, make, expected):
    config = make(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "finetune_core", "train", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and expected in lines[0], lines


def inspect(target) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["inspect", "--dataset", str(target)])
    return code, out.getvalue()


def test_float_labels_in_a_label_column_are_the_labels(tmp_path):
    rows = [{"text": f"row {i}", "label": float(i % 2)} for i in range(10)]
    code, out = inspect(tiny.write_jsonl(tmp_path / "floats.jsonl", rows))
    assert code == 0 and "label: label" in out and "labels (2)" in out, out


def test_labels_differing_only_by_case_are_warned_about(tmp_path):
    rows = [{"text": f"row {i}", "label": ["neg", "neg ", "NEG", "pos"][i % 4]} for i in range(12)]
    code, out = inspect(tiny.write_jsonl(tmp_path / "case.jsonl", rows))
    assert code == 0 and "warning: Label column 'label' has classes that differ only" in out


def test_a_tab_separated_quote_does_not_swallow_lines(tmp_path):
    """The SMS Spam Collection case: an unbalanced quote inside one message."""
    lines = ["label\ttext"] + [f"ham\tmessage {i}" for i in range(20)]
    lines[5] = 'spam\t"Free entry: reply "WIN now'
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n")
    code, out = inspect(path)
    assert code == 0 and "train (20 rows)" in out, out


def test_a_csv_quote_that_swallows_lines_is_named(tmp_path):
    lines = ["text,label"] + [f"message number {i},ham" for i in range(20)]
    lines[5] = '"Free entry: reply WIN now,spam'  # the quote opens a cell ...
    lines[9] = 'see you at "the place",ham'  # ... that the next quote closes
    path = tmp_path / "sms.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out = inspect(path)
    assert code == 0 and "warning: sms.csv line 6: a quote opens a cell" in out, out
    assert "4 line(s) became part of it" in out
    legit = tmp_path / "multi.csv"  # a quoted cell over two lines on purpose: no warning
    legit.write_text("text,label\n" + '"line one\nline two",pos\nplain,neg\n' * 5)
    code, out = inspect(legit)
    assert code == 0 and "warning" not in out, out


def test_a_semicolon_separated_csv_reads_as_columns(tmp_path):
    """Excel in many locales saves CSV with `;`: it read as one column named 'text;label'."""
    path = tmp_path / "excel.csv"
    path.write_text(
        "text;label\n" + "".join(f"message {i}, with a comma;{'ab'[i % 2]}\n" for i in range(20))
    )
    code, out = inspect(path)
    assert code == 0 and "text: text" in out and "label: label" in out, out
    assert "labels (2): a (10), b (10)" in out, out


def test_a_file_without_a_header_line_is_named(tmp_path):
    """The SMS Spam Collection ships without column names: its first message became the
    name of the text column, one row lost without a word."""
    lines = [
        f"{'ham' if i % 3 else 'spam'}\tFree entry number {i} in a weekly competition"
        for i in range(20)
    ]
    path = tmp_path / "SMSSpamCollection.tsv"
    path.write_text("\n".join(lines) + "\n")
    code, out = inspect(path)
    assert code == 0 and "warning: SMSSpamCollection.tsv line 1 looks like data" in out, out
    plain = tmp_path / "named.tsv"  # a real header: no warning
    plain.write_text("label\ttext\n" + "\n".join(lines) + "\n")
    code, out = inspect(plain)
    assert code == 0 and "warning" not in out, out


BAD_IMAGES = {
    "red/truncated.png": hostile.truncated_png(),
    "blue/notes.png": b"these are my notes, not an image",
    "red/bomb.png": hostile.bomb_png(),
}


def test_broken_images_are_skipped_counted_and_named(tmp_path, tiny_vit):
    folder = hostile.image_folder(tmp_path / "colors", BAD_IMAGES)
    code, out = inspect(folder)
    assert code == 0 and "train (12 rows)" in out, out
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    assert "Skipped 3 image(s)" in warning
    assert all(name in warning for name in ("truncated.png", "notes.png", "bomb.png"))
    assert "bomb.png (too large: 400,000,000 pixels" in warning

    from finetune_core.ui import data_tab

    card = data_tab.card(str(folder))
    assert "error" not in card and any("Skipped 3 image(s)" in w for w in card["warnings"])

    run = tmp_path / "run"
    args = ["train", "--model", str(tiny_vit), "--dataset", str(folder), "--epochs", "1"]
    with redirect_stderr(io.StringIO()):
        assert cli.main([*args, "--batch-size", "4", "--output-dir", str(run), "--quiet"]) == 0
    status = json.loads((run / "status.json").read_text())
    assert any("Skipped 3 image(s)" in w for w in status["warnings"]), status
