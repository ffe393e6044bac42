"""Runs trained once per test session for the prediction tests (test_predict_*.py): a
single-label and a multi-label text run on a folder with train and test files (the test file
is the split eval.json reports on, so its rows can be predicted again and compared), and an
image run. Each is trained the first time a test asks for it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import tiny

from finetune_core.config import RunConfig
from finetune_core.train import run as train

BASE = {"batch_size": 8, "logging_steps": 4, "seed": 3, "freeze": "none"}
_RUNS: dict[str, Path] = {}


def varied_rows(n: int, *, seed: int) -> list[dict]:
    """text_rows whose lengths range from 3 words to past the run's max_length."""
    rng = random.Random(seed)
    rows = tiny.text_rows(n, seed=seed)
    for row in rows:
        extra = rng.choice([0, 0, 1, 4, 12, 60])
        row["text"] += "".join(" " + rng.choice(tiny.WORDS["neu"]) for _ in range(extra))
    return rows


def _train(name: str, model: Path, make_data, factory, **extra) -> Path:
    """The run `name`, trained on `make_data()` the first time it is asked for."""
    if name not in _RUNS:
        out = factory.getbasetemp() / "predict-runs" / name
        cfg = RunConfig.from_dict(
            {"model": str(model), "dataset": str(make_data()), "output_dir": str(out)}
            | BASE
            | extra
        )
        assert train.run(cfg, release_memory=False).state == "completed"
        _RUNS[name] = out
    return _RUNS[name]


def text_run(tiny_bert: Path, factory) -> Path:
    """Single-label, 3 classes; eval.json reports on its data folder's test.csv (30 rows)."""

    def data() -> Path:
        folder = factory.mktemp("predict-text-data")
        tiny.write_csv(folder / "train.csv", varied_rows(90, seed=0))
        tiny.write_csv(folder / "test.csv", varied_rows(30, seed=1))
        return folder

    return _train("text", tiny_bert, data, factory, learning_rate=3e-3, epochs=4, max_length=48)


def multi_run(tiny_bert: Path, factory) -> Path:
    """Multi-label, 3 labels; eval.json reports on its data folder's test.jsonl (40 rows)."""

    def data() -> Path:
        folder = factory.mktemp("predict-multi-data")
        tiny.write_jsonl(folder / "train.jsonl", tiny.multi_rows(160, seed=0))
        tiny.write_jsonl(folder / "test.jsonl", tiny.multi_rows(40, seed=1))
        return folder

    return _train("multi", tiny_bert, data, factory, learning_rate=3e-3, epochs=6, max_length=16)


def image_run(tiny_vit: Path, image_folder: Path, factory) -> Path:
    return _train("image", tiny_vit, lambda: image_folder, factory, learning_rate=0.05, epochs=3)


def data_dir(run: Path) -> Path:
    """The dataset folder a run trained on (its config.json says)."""
    return Path(json.loads((run / "config.json").read_text())["dataset"])


def predict_upload(run: Path, upload: Path, as_csv: bool, owner: str = "tester"):
    """The Results step's Predict a file, as the page runs it: queued, then polled until done;
    (predictions file or None, the notice)."""
    import time

    from finetune_core.ui import queued, results_tab

    action_id, note = results_tab.predict_upload(owner, run, str(upload), as_csv)
    if action_id is None:
        return None, note
    deadline = time.monotonic() + 300
    while (got := queued.check(owner, action_id)).state in ("queued", "running"):
        assert time.monotonic() < deadline, "the queued prediction never finished"
        time.sleep(0.1)
    return queued.predictions_file(got)
