"""The table of bad inputs: each gives one clear sentence, in the engine (the `finetune`
command: exit code 1, one line on stderr) and in the page (the notice next to Train), and
nothing is half-written. Add a row to grow it."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import tiny

from finetune_core.cli import commands as cli
from finetune_core.ui import train_tab

# (case id, config changes, expected words in the message)
CASES = [
    ("model empty", {"model": ""}, "No model given"),
    ("model malformed id", {"model": "not a//valid id"}, "is not a valid model id"),
    ("model missing repo", {"model": "bad-org/no-such-model"}, "was not found on the Hub"),
    (
        "model gated, no token",
        {"model": "bad-org/gated"},
        "is gated; request access on its Hub page and log in (or set HF_TOKEN)",
    ),
    ("model without weights", {"model": "bad-org/config-only"}, "has no transformers weights"),
    ("model needs remote code", {"model": "{remote}"}, "FINETUNE_ALLOW_REMOTE_CODE=1"),
    ("model task does not fit", {"model": "{vit}"}, "The dataset is text but vit cannot classify"),
    ("local folder not a model", {"model": "{empty_dir}"}, "is not a model folder"),
    ("dataset missing repo", {"dataset": "bad-org/no-such-data"}, "was not found on the Hub"),
    ("dataset missing file", {"dataset": "{missing_file}"}, "does not exist"),
    ("no label column", {"dataset": "{no_label}"}, "No label column found"),
    ("one class only", {"dataset": "{one_class}"}, "has only one class"),
    ("missing label values", {"dataset": "{missing_labels}"}, "empty value(s)"),
    ("labels vs num_labels", {"num_labels": 5}, "num_labels is 5 but label column"),
    ("empty split", {"dataset": "{empty_split}"}, "is empty (no rows)"),
    ("split that does not exist", {"eval_split": "nope"}, "Split 'nope' is not in the dataset"),
    ("CSV with a broken row", {"dataset": "{broken_csv}"}, "malformed row"),
    ("CSV in the wrong encoding", {"dataset": "{latin1_csv}"}, "is not UTF-8 text"),
    ("text cells not strings", {"dataset": "{number_text}"}, "every text cell must be a string"),
    ("learning rate 0", {"learning_rate": 0}, "learning_rate must be greater than 0"),
    ("learning rate negative", {"learning_rate": -1}, "learning_rate must be greater than 0"),
    ("batch size 0", {"batch_size": 0}, "batch_size must be at least 1"),
    ("epochs huge", {"epochs": 10**6}, "epochs must be greater than 0 and at most 1000"),
    ("num_labels 1", {"num_labels": 1}, "num_labels must be at least 2"),
    ("num_labels absurd", {"num_labels": 10**9}, "num_labels must be at least 2 and at most"),
    ("freeze unknown group", {"freeze": ["bert.nope"]}, "unknown layer group(s) bert.nope"),
    ("freeze everything", {"freeze": "{all_groups}"}, "leaves nothing trainable"),
    ("unknown key", {"learning_rat": 1e-3}, "Unknown config key 'learning_rat'"),
    ("wrong type", {"batch_size": "eight"}, "batch_size must be a number"),
]
FILE_CASES = [
    ("YAML that is not a mapping", "- a\n- list\n", "must be a mapping"),
    ("YAML syntax error", "model: [oops\n", "not valid YAML or JSON"),
]


@pytest.fixture(scope="module")
def world(fake_hub, tiny_bert, tiny_vit, text_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    fake_hub.add_model("bad-org/gated", tiny_bert, gated=True)
    only_config = root / "config-only"
    only_config.mkdir()
    (only_config / "config.json").write_bytes((tiny_bert / "config.json").read_bytes())
    fake_hub.add_model("bad-org/config-only", only_config)
    remote = root / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(
        json.dumps({"model_type": "my-custom", "auto_map": {"AutoConfig": "cfg.MyConfig"}})
    )
    rows = tiny.text_rows(12)
    broken = root / "broken.csv"
    broken.write_text('text,label\n"good great,pos\nbad,neg,extra,fields\n' * 3)
    latin1 = root / "latin1.csv"
    latin1.write_bytes(
        "text,label\ncafé crème très bon,pos\nmauvais goût,neg\n".encode("latin-1") * 4
    )
    empty_split = root / "empty-split"
    tiny.write_csv(empty_split / "train.csv", rows)
    (empty_split / "validation.csv").write_text("text,label\n")
    subs = {
        "remote": str(remote),
        "vit": str(tiny_vit),
        "empty_dir": str(root),
        "missing_file": str(root / "nowhere.csv"),
        "no_label": str(
            tiny.write_jsonl(root / "nolabel.jsonl", [{"text": "a b", "score": 0.5}] * 8)
        ),
        "one_class": str(tiny.write_csv(root / "one.csv", [{"text": "good", "label": "pos"}] * 8)),
        "missing_labels": str(
            tiny.write_jsonl(root / "missing.jsonl", [{"text": "x y", "label": None}, *rows])
        ),
        "empty_split": str(empty_split),
        "broken_csv": str(broken),
        "latin1_csv": str(latin1),
        "number_text": str(
            tiny.write_jsonl(root / "numbers.jsonl", [*rows, {"text": 12345, "label": "pos"}])
        ),
        "all_groups": [
            "bert.embeddings",
            "bert.encoder.layer.0",
            "bert.encoder.layer.1",
            "bert.pooler",
            "classifier",
        ],
    }
    base = {
        "model": str(tiny_bert),
        "dataset": str(text_csv),
        "epochs": 1,
        "batch_size": 8,
        "max_length": 16,
        "text_column": None,
    }
    return {"root": root, "subs": subs, "base": base}


def config_for(world, change: dict) -> dict:
    cfg = dict(world["base"])
    for key, value in change.items():
        if isinstance(value, str) and value.startswith("{"):
            value = world["subs"][value[1:-1]]
        cfg[key] = value
    return cfg


def run_cli(config: dict, tmp_path: Path) -> tuple[int, str, Path]:
    out = tmp_path / "run"
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**config, "output_dir": str(out)}))
    err = io.StringIO()
    with redirect_stderr(err):
        code = cli.main(["train", "--config", str(path), "--quiet"])
    return code, err.getvalue(), out


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_engine(world, tmp_path, case, change, expected):
    code, err, out = run_cli(config_for(world, change), tmp_path)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err
    if out.exists():  # a run dir that was started says why it failed
        status = json.loads((out / "status.json").read_text())
        assert status["state"] == "failed" and expected in status["error"]


@pytest.mark.parametrize(("case", "text", "expected"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_engine_config_files(tmp_path, case, text, expected):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    err = io.StringIO()
    with redirect_stderr(err):
        code = cli.main(["train", "--config", str(path)])
    assert code == 1 and expected in err.getvalue() and len(err.getvalue().splitlines()) == 1


def form_values(config: dict) -> dict:
    values = tiny.form()
    frozen = config.pop("freeze", None)
    unknown = {k: v for k, v in config.items() if k not in values}
    values.update({k: v for k, v in config.items() if k in values})
    values["frozen"] = frozen if isinstance(frozen, list) else []
    return values, unknown


# the form has no free-form keys: unknown keys reach the page only as an uploaded config,
# which test_ui_handlers covers
PAGE_CASES = [c for c in CASES if c[0] != "unknown key"]


@pytest.mark.parametrize(("case", "change", "expected"), PAGE_CASES, ids=[c[0] for c in PAGE_CASES])
def test_page(world, case, change, expected):
    values, unknown = form_values(config_for(world, change))
    assert not unknown
    _, job_id, note = train_tab.start(None, values, None)
    assert job_id is None, f"{case}: a job was queued"
    assert expected in note, note
    assert "Traceback" not in note


def test_page_refuses_checkpoint_pushes_without_a_token(world):
    values, _ = form_values(config_for(world, {"push_checkpoints_to": "me/ckpts"}))
    values["push_checkpoints_to"] = "me/ckpts"
    _, job_id, note = train_tab.start(None, values, None)
    assert job_id is None and "needs your Hugging Face token" in note
