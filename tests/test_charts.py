"""Charts: the numbers behind the figures (smoothing, thinning, confusion, progress)."""

from __future__ import annotations

import json
import math
import random

import pytest

from finetune_core import charts

RECORDS = [
    {"step": 5, "epoch": 0.2, "time": 3.0, "loss": 1.2, "learning_rate": 4e-5, "grad_norm": 2.3},
    {"step": 10, "epoch": 0.4, "time": 5.0, "loss": 1.0, "learning_rate": 3e-5},
    {"step": 15, "epoch": 0.6, "time": 7.0, "loss": float("nan"), "learning_rate": 2e-5},
    {"step": 20, "epoch": 0.8, "time": 9.0, "loss": 0.8, "learning_rate": float("inf")},
    {"step": 25, "epoch": 1.0, "time": 11.0, "eval_loss": 0.9, "eval_accuracy": 0.7,
     "eval_f1_macro": 0.65, "unknown": "x"},
    {"step": 30, "epoch": 1.2, "time": 13.0, "loss": "oops", "learning_rate": None},
    {"event": "end", "state": "completed"},
]  # fmt: skip


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_ema_matches_tensorboard_debiased_smoothing():
    # w = 0.5: raw EMA 0.5, 1.25, 1.625; debias by 1 - 0.5**i: 1, 1.6666..., 1.857...
    assert charts.ema([1.0, 2.0, 2.0], 0.5) == pytest.approx([1.0, 5 / 3, 1.625 / 0.875])
    # the first point is never pulled towards 0, a constant stays constant
    assert charts.ema([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])
    assert charts.ema([1.0, 4.0], 0.0) == [1.0, 4.0]
    assert charts.ema([], 0.6) == []


def test_thin_bounds_points_and_keeps_shape():
    rng = random.Random(0)
    points = [(float(i), rng.gauss(0, 1)) for i in range(10_000)]
    points[5000] = (5000.0, 50.0)  # a spike must survive
    points[7000] = (7000.0, -50.0)
    out = charts.thin(points, max_points=200)
    assert len(out) <= 200
    assert out[0] == points[0] and out[-1] == points[-1]
    assert (5000.0, 50.0) in out and (7000.0, -50.0) in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)
    assert set(out) <= set(points)
    # each bucket keeps its own min and max
    inner = points[1:-1]
    bucket = inner[: len(inner) // 99]
    assert min(bucket, key=lambda p: p[1]) in out and max(bucket, key=lambda p: p[1]) in out


def test_thin_short_series_untouched_and_tiny_budgets():
    points = [(1.0, 2.0), (2.0, 1.0), (3.0, 5.0)]
    assert charts.thin(points, max_points=3) == points
    assert charts.thin(points, max_points=2) == [(1.0, 2.0), (3.0, 5.0)]
    with pytest.raises(ValueError):
        charts.thin(points, max_points=1)


def test_series_skips_non_finite_and_missing_values():
    assert charts.series(RECORDS, "loss") == [(5, 1.2), (10, 1.0), (20, 0.8)]
    assert charts.series(RECORDS, "learning_rate") == [(5, 4e-5), (10, 3e-5), (15, 2e-5)]
    assert charts.series(RECORDS, "eval_accuracy") == [(25, 0.7)]


def test_loss_figure_traces_and_layout():
    fig = charts.loss_figure(RECORDS, smoothing=0.5)
    raw, smooth, ev = (trace(fig, n) for n in ("train (raw)", "train (smoothed)", "eval"))
    assert list(raw.x) == [5, 10, 20] and list(raw.y) == [1.2, 1.0, 0.8]
    assert list(smooth.y) == pytest.approx(charts.ema([1.2, 1.0, 0.8], 0.5))
    assert raw.opacity < 1 and raw.line.width < smooth.line.width
    assert list(ev.x) == [25] and list(ev.y) == [0.9] and "markers" in ev.mode
    assert fig.layout.height == 300 and fig.layout.uirevision == "loss"
    assert fig.layout.legend.orientation == "h"
    assert not fig.layout.annotations
    assert charts.loss_figure(RECORDS, log_scale=True).layout.yaxis.type == "log"
    json.dumps(fig.to_plotly_json(), default=str)  # serialisable for gr.Plot


def test_loss_figure_thins_long_runs():
    records = [{"step": i, "loss": 1 / (1 + i)} for i in range(5000)]
    fig = charts.loss_figure(records)
    assert all(len(t.x) <= 1000 for t in fig.data)
    assert trace(fig, "train (raw)").x[-1] == 4999


def test_empty_state():
    for records in ([], [{"event": "end", "state": "failed"}]):
        fig = charts.loss_figure(records)
        assert not fig.data
        assert fig.layout.annotations[0].text == "waiting for the first logged step"
    assert charts.lr_figure([]).layout.annotations[0].text == "waiting for the first logged step"
    assert charts.metrics_figure([]).layout.annotations
    assert charts.overlay_figure({"a": []}).layout.annotations
    assert charts.class_balance_figure({}).layout.annotations


def test_metrics_and_lr_figures():
    fig = charts.metrics_figure(RECORDS)
    assert list(trace(fig, "accuracy").y) == [0.7]
    assert list(trace(fig, "macro F1").y) == [0.65]
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)
    lr = charts.lr_figure(RECORDS)
    assert list(lr.data[0].x) == [5, 10, 15]


def test_overlay_figure_one_trace_per_run():
    runs = {"run-a": RECORDS, "run-b": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]}
    fig = charts.overlay_figure(runs, key="loss")
    assert [t.name for t in fig.data] == ["run-a", "run-b"]
    assert list(trace(fig, "run-b").y) == [2.0, 1.5]
    ev = charts.overlay_figure(runs, key="eval_accuracy")
    assert [t.name for t in ev.data] == ["run-a"] and "markers" in ev.data[0].mode


def test_confusion_values_and_orientation():
    matrix = [[8, 2, 0], [1, 9, 0], [0, 0, 0]]  # rows = true
    fig = charts.confusion_figure(matrix, ["cat", "dog", "fox"])
    heat = fig.data[0]
    assert [list(r) for r in heat.z] == [[8, 2, 0], [1, 9, 0], [0, 0, 0]]
    assert list(heat.y) == ["cat", "dog", "fox"] and list(heat.x) == ["cat", "dog", "fox"]
    assert heat.text[0][1] == "2"  # true cat, predicted dog
    assert fig.layout.yaxis.autorange == "reversed"  # first true label on top
    assert fig.layout.xaxis.title.text == "predicted" and fig.layout.yaxis.title.text == "true"
    norm = charts.confusion_figure(matrix, ["cat", "dog", "fox"], normalize=True).data[0]
    flat = [v for row in norm.z for v in row]
    assert flat == pytest.approx([0.8, 0.2, 0, 0.1, 0.9, 0, 0, 0, 0])  # a row of zeros stays 0
    assert norm.text[1][1] == "9<br>90%"
    assert not charts.confusion_figure([], []).data


def test_class_balance_figure():
    fig = charts.class_balance_figure({"billing": 100, "shipping": 90})
    assert list(fig.data[0].x) == ["billing", "shipping"]
    assert list(fig.data[0].y) == [100, 90]


STATUS = {
    "state": "running",
    "error": None,
    "step": 30,
    "max_steps": 100,
    "started": "2026-11-03T10:00:00Z",
    "updated": "2026-11-03T10:00:15+00:00",
}


def test_progress_rate_and_eta_from_records():
    p = charts.progress(STATUS, RECORDS)
    # records: step 5 at 3 s .. step 30 at 13 s -> 25 steps / 10 s
    assert p["steps_per_sec"] == pytest.approx(2.5)
    assert p["eta_seconds"] == pytest.approx(70 / 2.5)
    assert p["step"] == 30 and p["max_steps"] == 100 and p["fraction"] == pytest.approx(0.3)
    assert p["epoch"] == pytest.approx(1.2) and p["elapsed_seconds"] == pytest.approx(15)


def test_progress_falls_back_to_status_times_and_handles_states():
    p = charts.progress(STATUS, [])
    assert p["steps_per_sec"] == pytest.approx(2.0)  # 30 steps in 15 s
    assert p["eta_seconds"] == pytest.approx(35.0)
    done = charts.progress({**STATUS, "state": "completed", "step": 100}, RECORDS)
    assert done["eta_seconds"] == 0 and done["fraction"] == 1
    assert charts.progress({**STATUS, "state": "stopped"}, RECORDS)["eta_seconds"] is None
    q = charts.progress({"state": "queued", "step": 0, "max_steps": None}, [])
    assert q["fraction"] is None and q["eta_seconds"] is None and q["steps_per_sec"] is None


def test_progress_uses_the_clock_after_a_resume():
    records = [{"step": s, "time": s * 10.0} for s in range(1, 6)]  # 0.1 steps/s
    records += [{"step": s, "time": (s - 5) * 1.0} for s in range(6, 11)]  # clock restarted
    p = charts.progress({"state": "running", "step": 10, "max_steps": 20}, records)
    assert p["steps_per_sec"] == pytest.approx(1.0)
    assert p["eta_seconds"] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45.4, "45s"),
        (65, "1m 05s"),
        (3599.6, "1h 00m"),
        (7380, "2h 03m"),
        (100_800, "1d 04h"),
        (None, "–"),
        (-1, "–"),
        (math.nan, "–"),
    ],
)
def test_format_eta(seconds, text):
    assert charts.format_eta(seconds) == text
