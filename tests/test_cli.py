"""The `finetune` command as a person runs it: real subprocesses, models and datasets served by
the fake Hub, the run directory contract, one-line failures and inspect (interrupting a run:
test_cli_signals.py).

Every command here is `python -m finetune_core ...` in a child process with the test
environment (HF_ENDPOINT points at the loopback fake Hub). Starting Python with torch,
transformers and datasets costs several seconds, so the independent commands run in
parallel in one module fixture and the tests then read their results.
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import tiny
from cli_run import error_line, finetune, loss_steps, write_config

from finetune_core import runs

HUB_MODEL = "tests-org/tiny-bert"
HUB_GATED = "tests-org/gated-bert"
HUB_GATED_OK = "tests-org/gated-bert-2"  # its own cache entry: a cached gated file needs no token
HUB_DATA = "tests-org/tiny-text"
HUB_NO_LABELS = "tests-org/no-labels"
HUB_EMPTY_SPLIT = "tests-org/empty-test"
HUB_TWIN = "tests-org/twin"  # a model and a dataset under the same id
BASE = {
    "model": HUB_MODEL,
    "dataset": HUB_DATA,
    "epochs": 2,
    "batch_size": 8,
    "max_length": 16,
    "logging_steps": 2,
    "seed": 3,
}
HIDDEN = 32
WORKERS = 2  # one process per core on a 2-core box


# ---- what the fake Hub serves ----------------------------------------------------------
@pytest.fixture(scope="module")
def hub(fake_hub, tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-hub")
    text = root / "tiny-text"
    tiny.write_csv(text / "train.csv", tiny.text_rows(36))
    tiny.write_csv(text / "test.csv", tiny.text_rows(12, seed=1))
    no_labels = root / "no-labels"
    rows = [{"text": r["text"], "score": i / 7} for i, r in enumerate(tiny.text_rows(24))]
    tiny.write_csv(no_labels / "train.csv", rows)
    empty = root / "empty-test"
    tiny.write_csv(empty / "train.csv", tiny.text_rows(24))
    (empty / "test.csv").write_text("text,label\n")  # the header and no rows

    fake_hub.add_model(HUB_MODEL, tiny_bert)
    fake_hub.add_model(HUB_GATED, tiny_bert, gated=True)
    fake_hub.add_model(HUB_GATED_OK, tiny_bert, gated=True)
    fake_hub.add_model(HUB_TWIN, tiny_bert)
    fake_hub.add_dataset(HUB_DATA, text)
    fake_hub.add_dataset(HUB_TWIN, text)
    fake_hub.add_dataset(HUB_NO_LABELS, no_labels)
    fake_hub.add_dataset(HUB_EMPTY_SPLIT, empty)
    return fake_hub


# ---- the parallel batch ------------------------------------------------------------------
@dataclass
class Failure:
    name: str
    flags: tuple
    message: str
    leaves_run_dir: bool  # a rejected config leaves nothing; a later failure leaves "failed"


FAILURES = [
    Failure(
        "missing-model",
        ("--model", "tests-org/no-such-model"),
        "Model tests-org/no-such-model was not found on the Hub",
        True,
    ),
    Failure("gated-model", ("--model", HUB_GATED), f"Model {HUB_GATED} is gated", True),
    Failure(
        "missing-dataset",
        ("--dataset", "tests-org/no-such-data"),
        "Dataset tests-org/no-such-data was not found on the Hub",
        True,
    ),
    Failure("no-label-column", ("--dataset", HUB_NO_LABELS), "No label column found", True),
    Failure(
        "num-labels",
        ("--num-labels", "2"),
        "num_labels is 2 but label column 'label' has 3 classes",
        True,
    ),
    Failure(
        "empty-split",
        ("--dataset", HUB_EMPTY_SPLIT),
        f"Split 'test' of dataset {HUB_EMPTY_SPLIT} is empty",
        True,
    ),
    Failure(
        "unknown-key",
        ("--config", "UNKNOWN_KEY_CONFIG"),
        "Unknown config key 'learning_rat' (did you mean 'learning_rate'?)",
        False,
    ),
    Failure(
        "negative-lr",
        ("--learning-rate", "-0.01"),
        "learning_rate must be greater than 0",
        False,
    ),
    Failure(
        "unknown-freeze-group",
        ("--freeze", "bert.embeddings,bert.encoder.layer.7"),
        "freeze names unknown layer group(s) bert.encoder.layer.7",
        True,
    ),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module", autouse=True)
def batch_started(hub, work, tiny_bert, text_csv):
    """Start every independent command at once, in the background; the tests read the
    results."""
    yaml_cfg = write_config(work / "run.yaml", BASE)
    json_cfg = write_config(
        work / "run.json", {**BASE, "model": HUB_GATED_OK, "freeze": ["bert.embeddings"]}
    )
    unknown = write_config(work / "unknown.yaml", {**BASE, "learning_rat": 0.1})
    existing = work / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    token = sorted(hub.tokens)[0]

    jobs: dict[str, tuple[tuple, dict | None, Path]] = {
        "yaml": (("--config", yaml_cfg, "--epochs", "1"), None, work / "yaml"),
        # JSON, several overrides, and the gated model with a token the fake Hub accepts
        "json-gated-with-token": (
            ("--config", json_cfg, "--epochs", "1", "--learning-rate", "0.01"),
            {"HF_TOKEN": token},
            work / "json-gated",
        ),
        "existing-output": (("--config", yaml_cfg), None, existing),
    }
    for case in FAILURES:
        flags = tuple(unknown if f == "UNKNOWN_KEY_CONFIG" else f for f in case.flags)
        if "--config" not in flags:
            flags = ("--config", yaml_cfg, *flags)
        jobs[case.name] = (flags, None, work / case.name)
    commands = {  # "yaml" keeps its progress output (stderr is not a terminal here)
        name: ("train", *flags, "--output-dir", out, *(() if name == "yaml" else ("--quiet",)))
        for name, (flags, _, out) in jobs.items()
    }
    commands.update(
        {
            "inspect-hub-model": ("inspect", HUB_TWIN, "--num-labels", "3", "--json"),
            "inspect-local-model": ("inspect", tiny_bert, "--json"),
            "inspect-csv": ("inspect", text_csv, "--json"),
            "inspect-hub-dataset": ("inspect", HUB_DATA, "--json"),
            "inspect-forced-dataset": ("inspect", HUB_TWIN, "--dataset", "--json"),
        }
    )
    before = len(hub.requests)
    pool = ThreadPoolExecutor(WORKERS)
    futures = {
        name: pool.submit(finetune, *args, env=jobs.get(name, (None, None))[1])
        for name, args in commands.items()
    }
    state = {
        "futures": futures,
        "outs": {name: out for name, (_, _, out) in jobs.items()},
        "before": before,
        "token": token,
    }
    yield state
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def batch(batch_started, hub):
    """The batch's results: {"results": {name: CompletedProcess}, "outs", "requests", ...}."""
    results = {name: f.result() for name, f in batch_started["futures"].items()}
    return {
        **batch_started,
        "results": results,
        "requests": hub.requests[batch_started["before"] :],
    }


# ---- train: success ----------------------------------------------------------------------
def check_run_dir(out: Path, *, epochs: float, model: str, token: str | None = None) -> dict:
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == model and config["dataset"] == HUB_DATA
    assert config["epochs"] == epochs  # the flag overrode the file
    assert config["output_dir"] == str(out)
    assert (config["text_column"], config["label_column"]) == ("text", "label")
    assert config["num_labels"] == 3 and config["label_names"] == ["neg", "neu", "pos"]
    assert not any("token" in key.lower() for key in config)

    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "completed" and status["error"] is None
    # 32 rows / batch 8: the 36 train rows less the 4 held out for selection (the dataset's
    # test split is reported, so selection never sees it)
    assert status["step"] == status["max_steps"] == 4 * int(epochs)

    records = runs.read_metrics(out)
    steps = loss_steps(out)
    assert steps == sorted(set(steps)) and steps[0] == 1 and len(steps) >= 3
    assert [r for r in records if "eval_loss" in r], records
    assert records[-1]["event"] == "end" and records[-1]["state"] == "completed"

    report = json.loads((out / "eval.json").read_text())
    assert report["num_examples"] == 12  # the dataset's test split
    assert report["label_names"] == ["neg", "neu", "pos"]
    assert sum(map(sum, report["confusion_matrix"])) == 12

    model_dir = out / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
        assert (model_dir / name).is_file(), name
    model_cfg = json.loads((model_dir / "config.json").read_text())
    assert model_cfg["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}
    if token:
        for path in out.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    return report


def check_done_line(result: subprocess.CompletedProcess, out: Path, report: dict) -> None:
    assert result.returncode == 0, result.stderr
    match = re.search(
        r"^done: accuracy (\d\.\d{4}), macro F1 (\d\.\d{4}) on (.+) \((\d+) rows\); "
        r"quick baseline \((.+)\): macro F1 (\d\.\d{4}); run folder (.+)$",
        result.stdout,
        re.M,
    )
    assert match, result.stdout
    assert float(match.group(1)) == pytest.approx(report["accuracy"], abs=1e-4)
    assert float(match.group(2)) == pytest.approx(report["f1_macro"], abs=1e-4)
    assert (match.group(3), int(match.group(4))) == (report["report_split"], report["num_examples"])
    assert match.group(5) == report["baseline"]["name"]
    assert float(match.group(6)) == pytest.approx(report["baseline"]["f1_macro"], abs=1e-4)
    assert match.group(7) == str(out)


def test_train_yaml_config_with_flag_override_downloads_through_the_fake_hub(batch):
    result, out = batch["results"]["yaml"], batch["outs"]["yaml"]
    report = check_run_dir(out, epochs=1.0, model=HUB_MODEL)
    check_done_line(result, out, report)
    assert "Traceback" not in result.stderr
    # without --quiet: a line per phase, then the bar a line per 10% (stderr is not a tty)
    lines = result.stderr.splitlines()
    phases = [line for line in lines if line.endswith("...")]
    assert phases == [
        "loading the data...",
        "loading the model...",
        "preparing the data...",
        "timing a few steps to choose the freeze plan...",
        "final evaluation...",
        "fitting the quick baseline...",
        "saving the model...",
    ], result.stderr
    # freeze: auto says which plan it chose and why (a tiny model trains whole)
    (plan,) = [line for line in lines if line.startswith("freeze plan: ")]
    assert "auto: everything" in plan and "fits the budget" in plan
    bars = [line for line in lines if line.startswith("[")]
    assert bars and bars[-1].startswith("[" + "#" * 30 + "]"), result.stderr
    paths = [p for _, p in batch["requests"]]
    assert any(p.startswith(f"/{HUB_MODEL}/resolve/") for p in paths), paths
    assert any(p.startswith(f"/{HUB_MODEL}/resolve/") and "model.safetensors" in p for p in paths)
    assert any(p.startswith(f"/datasets/{HUB_DATA}/resolve/") for p in paths), paths


def test_train_json_config_with_overrides_on_a_gated_model_with_a_token(batch):
    """JSON config and flag overrides; the gated model downloads with HF_TOKEN set to a token
    the fake Hub accepts, and the token is written nowhere in the run dir or the output."""
    result, out = batch["results"]["json-gated-with-token"], batch["outs"]["json-gated-with-token"]
    report = check_run_dir(out, epochs=1.0, model=HUB_GATED_OK, token=batch["token"])
    check_done_line(result, out, report)
    assert batch["token"] not in result.stdout + result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["learning_rate"] == 0.01 and config["freeze"] == ["bert.embeddings"]
    status = json.loads((out / "status.json").read_text())
    assert status["trainable_params"] < status["total_params"]
    paths = [p for _, p in batch["requests"]]
    assert any(p.startswith(f"/{HUB_GATED_OK}/resolve/") for p in paths), paths


# ---- train: one-line failures -------------------------------------------------------------
def check_failed_run(out: Path, message: str, leaves_run_dir: bool) -> None:
    if not out.exists():
        return
    assert leaves_run_dir, f"{out} was created for a rejected config"
    view = runs.read_run(out)
    assert view.state == "failed", view.status
    assert message in view.status.error
    end = view.metrics[-1]
    assert end["event"] == "end" and end["state"] == "failed"


@pytest.mark.parametrize("case", FAILURES, ids=[c.name for c in FAILURES])
def test_failure_is_one_line_and_leaves_no_or_a_failed_run(batch, case):
    result, out = batch["results"][case.name], batch["outs"][case.name]
    line = error_line(result)
    assert case.message in line
    assert result.returncode == 1
    check_failed_run(out, case.message, case.leaves_run_dir)
    if not case.leaves_run_dir:
        assert not out.exists()


def test_existing_output_dir_is_refused_and_left_alone(batch):
    result, out = batch["results"]["existing-output"], batch["outs"]["existing-output"]
    line = error_line(result)
    assert f"Output folder {out} already holds files" in line and "--resume" in line
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


# ---- inspect ------------------------------------------------------------------------------
def inspect_json(batch, name: str) -> dict:
    result = batch["results"][name]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


BERT_GROUPS = [
    ("bert.embeddings", "embeddings"),
    ("bert.encoder.layer.0", "block"),
    ("bert.encoder.layer.1", "block"),
    ("bert.pooler", "other"),
    ("classifier", "head"),
]


@pytest.mark.parametrize(
    ("name", "model", "num_labels"),
    [("inspect-hub-model", HUB_TWIN, 3), ("inspect-local-model", None, 2)],
)
def test_inspect_model_json(batch, tiny_bert, name, model, num_labels):
    data = inspect_json(batch, name)
    assert set(data) == {"model", "total_params", "groups"}
    assert data["model"] == (model or str(tiny_bert))
    assert [(g["name"], g["kind"]) for g in data["groups"]] == BERT_GROUPS
    assert all(set(g) == {"name", "kind", "params"} for g in data["groups"])
    params = {g["name"]: g["params"] for g in data["groups"]}
    assert params["classifier"] == HIDDEN * num_labels + num_labels
    assert params["bert.encoder.layer.0"] == params["bert.encoder.layer.1"] > 0
    assert data["total_params"] == sum(params.values())


def test_inspect_model_json_hub_and_local_agree(batch):
    hub_groups = inspect_json(batch, "inspect-hub-model")["groups"]
    local_groups = inspect_json(batch, "inspect-local-model")["groups"]
    assert hub_groups[:-1] == local_groups[:-1]  # same backbone; heads of 3 and 2 outputs


def test_inspect_csv_file(batch, text_csv):
    data = inspect_json(batch, "inspect-csv")
    assert data["dataset"] == str(text_csv)
    assert data["splits"] == {"train": 60}
    assert (data["text_column"], data["label_column"]) == ("review_body", "verdict")
    assert data["task"] == "text" and data["num_labels"] == 3
    assert data["label_names"] == ["neg", "neu", "pos"]
    assert data["class_counts"] == {"neg": 20, "neu": 20, "pos": 20}


@pytest.mark.parametrize("name", ["inspect-hub-dataset", "inspect-forced-dataset"])
def test_inspect_hub_dataset(batch, name):
    data = inspect_json(batch, name)
    assert data["dataset"] == (HUB_DATA if name == "inspect-hub-dataset" else HUB_TWIN)
    assert data["splits"] == {"train": 36, "test": 12}
    assert (data["text_column"], data["label_column"]) == ("text", "label")
    assert data["label_names"] == ["neg", "neu", "pos"]
    assert "groups" not in data


def test_inspect_without_dataset_flag_picks_the_model(batch):
    """tests-org/twin is both: without --dataset it is the model, with it the dataset."""
    assert "groups" in inspect_json(batch, "inspect-hub-model")
    assert "splits" in inspect_json(batch, "inspect-forced-dataset")
