"""Plotly figures built from a run's metrics records (the lines of metrics.jsonl).

The UI rebuilds these about once a second while a run trains, so everything here is plain
Python over lists: no pandas, no gradio. Long series are thinned before they reach the
browser, every figure has a fixed height (the page does not jump) and a `uirevision`
(the user's zoom and hidden traces survive the updates).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from finetune_core import inert

HEIGHT = 300
TEMPLATE = "plotly_white"
# The look is set once as plotly's default template: go.Figure() applies a default without
# validating and deep-copying it again, where update_layout(template=...) costs about 30 ms a
# figure; the live charts are rebuilt while a run trains (see bench/responsiveness.py).
pio.templates.default = TEMPLATE
TRAIN_COLOR, EVAL_COLOR, F1_COLOR = "#1f77b4", "#d62728", "#2ca02c"
EMPTY_TEXT = "waiting for the first logged step"
GREY = {"size": 14, "color": "#888"}

Point = tuple[float, float]


def _num(value: Any) -> float | None:
    """A finite float, or None for missing, non-numeric, NaN and infinite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def series(records: Iterable[Mapping[str, Any]], key: str, x: str = "step") -> list[Point]:
    """(step, value) pairs of one metric (or (epoch|time, value) with `x`); lines without a
    finite x or value are skipped."""
    points = []
    for record in records:
        step, value = _num(record.get(x)), _num(record.get(key))
        if step is not None and value is not None:
            points.append((step, value))
    return points


def ema(values: Sequence[float], smoothing: float = 0.6) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average debiased for its zero start,
    so the first points are not dragged towards 0."""
    weight = min(max(float(smoothing), 0.0), 0.999)
    out, last = [], 0.0
    for i, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**i))
    return out


def thin(points: Sequence[Point], max_points: int = 1000) -> list[Point]:
    """At most `max_points` points with the curve's shape: the first and the last point, and
    the minimum and the maximum of each bucket in between (spikes stay visible)."""
    points = list(points)
    if len(points) <= max_points:
        return points
    if max_points < 2:
        raise ValueError("thin() needs max_points >= 2")
    inner, buckets = points[1:-1], (max_points - 2) // 2
    out = [points[0]]
    for b in range(buckets):
        chunk = inner[b * len(inner) // buckets : (b + 1) * len(inner) // buckets]
        if chunk:
            lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
            hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
            out.extend(chunk[i] for i in sorted({lo, hi}))
    out.append(points[-1])
    return out


def _xy(points: Sequence[Point]) -> tuple[list[float], list[float]]:
    return [p[0] for p in points], [p[1] for p in points]


def _figure(title: str, xtitle: str, ytitle: str, uirevision: str, empty: str | None) -> go.Figure:
    """An empty figure with the shared look; `empty` is shown when there is nothing to plot."""
    fig = go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0.01, "y": 0.97, "font": {"size": 14}},
        height=HEIGHT,
        margin={"l": 55, "r": 15, "t": 60, "b": 45},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        hovermode="x unified",
        uirevision=uirevision,
        xaxis_title=xtitle,
        yaxis_title=ytitle,
    )
    if empty:
        _say(fig, empty)
    return fig


def _say(fig: go.Figure, text: str) -> None:
    """The empty-state message in the middle of the plot area."""
    fig.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=GREY
    )


def _line(points: Sequence[Point], name: str, color: str | None, **style: Any) -> go.Scatter:
    """One thinned series. SVG Scatter rather than Scattergl: at most ~1000 points each, and
    a page with many WebGL plots runs out of browser GL contexts."""
    markers = style.pop("markers", False)
    width = style.pop("width", 2)
    x, y = _xy(thin(points))
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        mode="lines+markers" if markers else "lines",
        line={"color": color, "width": width},
        marker={"size": 7},
        **style,
    )


def loss_figure(
    records: Sequence[Mapping[str, Any]],
    *,
    log_scale: bool = False,
    smoothing: float = 0.6,
    uirevision: str = "loss",
) -> go.Figure:
    """Training loss, raw (faint) and smoothed, with evaluation loss as markers, per step."""
    train, evals = series(records, "loss"), series(records, "eval_loss")
    fig = _figure("Loss", "step", "loss", uirevision, None if train or evals else EMPTY_TEXT)
    if train:
        fig.add_trace(_line(train, "train (raw)", TRAIN_COLOR, width=1, opacity=0.3))
        steps, values = _xy(train)
        smooth = list(zip(steps, ema(values, smoothing), strict=True))
        fig.add_trace(_line(smooth, "train (smoothed)", TRAIN_COLOR))
    if evals:
        fig.add_trace(_line(evals, "eval", EVAL_COLOR, markers=True))
    if log_scale:
        fig.update_yaxes(type="log")
    return fig


def loss_points(records: Sequence[Mapping[str, Any]]) -> int:
    """How many points loss_figure draws (raw and smoothed train loss, eval loss), counted
    without building the figure: the API's status poll only needs the number."""
    train, evals = series(records, "loss"), series(records, "eval_loss")
    return 2 * len(thin(train)) + len(thin(evals))


def metrics_figure(
    records: Sequence[Mapping[str, Any]], *, uirevision: str = "metrics"
) -> go.Figure:
    """Evaluation accuracy and macro F1 per step, on a fixed 0-1 axis so runs compare."""
    acc, f1 = series(records, "eval_accuracy"), series(records, "eval_f1_macro")
    empty = None if acc or f1 else "waiting for the first evaluation"
    fig = _figure("Evaluation", "step", "score", uirevision, empty)
    for name, points, color in (("accuracy", acc, EVAL_COLOR), ("macro F1", f1, F1_COLOR)):
        if points:
            fig.add_trace(_line(points, name, color, markers=True))
    if len(fig.data) == 2:  # equal scores would hide accuracy under F1: dash F1, diamonds
        fig.data[1].line.dash, fig.data[1].marker.symbol = "dash", "diamond-open"
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", hoverformat=".1%")
    return fig


def lr_figure(records: Sequence[Mapping[str, Any]], *, uirevision: str = "lr") -> go.Figure:
    """Learning rate per step: shows the warmup and decay the schedule actually applied; with
    a learning-rate search, its trials at step 0 (hover: each one's evaluation loss)."""
    points = series(records, "learning_rate")
    trials = lr_trials(records)
    empty = None if points or trials else EMPTY_TEXT
    fig = _figure("Learning rate", "step", "learning rate", uirevision, empty)
    if points:
        fig.add_trace(_line(points, "learning rate", "#9467bd"))
    if trials:
        best = min(trials, key=lambda t: t[1])
        fig.add_trace(
            go.Scatter(
                x=[0] * len(trials),
                y=[rate for rate, _ in trials],
                mode="markers",
                name="search trials",
                text=[
                    f"eval loss {loss:.4f}" + (" (chosen)" if (r, loss) == best else "")
                    for r, loss in trials
                ],
                marker={"symbol": "diamond", "size": 9, "color": "#ff7f0e"},
            )
        )
        fig.update_yaxes(type="log")  # the grid spans two or three orders of magnitude
    fig.update_yaxes(exponentformat="e", hoverformat=".2e")
    return fig


def lr_trials(records: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(learning rate, evaluation loss) of each learning-rate search trial (train/lr_search.py)."""
    return series(records, "trial_eval_loss", x="trial_learning_rate")


def overlay_figure(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    key: str = "loss",
    *,
    x: str = "step",
    uirevision: str = "overlay",
) -> go.Figure:
    """One metric of several runs on one chart, to compare them, over step, epoch or time
    (seconds since the start: runs with different batch sizes compare by epoch or time)."""
    fig = _figure(f"{key} by run", x, key, uirevision, None)
    for name, records in runs.items():
        points = series(records, key, x)
        if points:  # eval metrics are sparse: markers make single points visible
            fig.add_trace(_line(points, name, None, markers=key.startswith("eval_")))
    if not fig.data:
        _say(fig, f"no run has logged {key} yet")
    return fig


def figures(records: Sequence[Mapping[str, Any]], **loss_options: Any) -> dict[str, go.Figure]:
    """The live charts of one run: {"loss", "metrics", "lr"}."""
    return {
        "loss": loss_figure(records, **loss_options),
        "metrics": metrics_figure(records),
        "lr": lr_figure(records),
    }


CHART_CLASSES = 30  # classes drawn one by one; beyond, the most frequent 29 and "other"


def confusion_figure(
    matrix: Sequence[Sequence[float]],
    label_names: Sequence[str],
    *,
    normalize: bool = False,
    classes: int | None = None,
) -> go.Figure:
    """Confusion matrix heatmap: rows are true labels (top to bottom), columns predictions.
    Cells show counts; with `normalize` the colour is the share of each true label's row.
    Label names are data: shown as text (inert.plot), at most CHART_CLASSES of them; `classes`
    is how many the matrix stands for (eval.json's folded one ends with "other")."""
    counts = [[_num(v) or 0.0 for v in row] for row in matrix]
    n = len(counts)
    names = [str(label_names[i]) if i < len(label_names) else str(i) for i in range(n)]
    counts, names = _fold_matrix(counts, names, CHART_CLASSES, classes or n)
    n = len(counts)
    names = inert.plot_names(names)
    fig = _figure("Confusion matrix", "predicted", "true", "confusion", None)
    fig.update_layout(height=max(HEIGHT, min(900, 40 * n + 140)), hovermode="closest")
    if not n:
        _say(fig, "no evaluation yet")
        return fig
    z = [[v / (sum(row) or 1.0) for v in row] for row in counts] if normalize else counts
    text = [
        [f"{v:g}<br>{share:.0%}" if normalize else f"{v:g}" for v, share in zip(r, zr, strict=True)]
        for r, zr in zip(counts, z, strict=True)
    ]
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            showscale=False,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_xaxes(side="bottom", type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def _fold_matrix(
    counts: list[list[float]], names: list[str], limit: int, classes: int
) -> tuple[list[list[float]], list[str]]:
    """The `limit` - 1 classes with the most true examples, the others summed into "other"
    (a matrix already folded, `classes` > its size, keeps its "other" there)."""
    n = len(counts)
    if n <= limit:
        return counts, names
    single = range(n - 1) if classes > n else range(n)  # the rows that are one class each
    keep = sorted(sorted(single, key=lambda i: -sum(counts[i]))[: limit - 1])
    slot = {c: k for k, c in enumerate(keep)}
    folded = [[0.0] * limit for _ in range(limit)]
    for i, row in enumerate(counts):
        for j, v in enumerate(row):
            if v:
                folded[slot.get(i, limit - 1)][slot.get(j, limit - 1)] += v
    return folded, [names[i] for i in keep] + [f"other ({classes - len(keep):,} classes)"]


def top_counts(counts: Mapping[str, int], limit: int = CHART_CLASSES) -> dict[str, int]:
    """The `limit` - 1 largest classes in their order, then "other (N classes)" for the rest."""
    if len(counts) <= limit:
        return dict(counts)
    top = set(sorted(counts, key=lambda k: -counts[k])[: limit - 1])
    kept = {k: v for k, v in counts.items() if k in top}
    rest = sum(v for k, v in counts.items() if k not in top)
    return {**kept, f"other ({len(counts) - len(top):,} classes)": rest}


def class_balance_figure(counts: Mapping[str, int]) -> go.Figure:
    """Examples per class: an imbalance is the first thing to see before training. Class
    names are data: shown as text, and at most CHART_CLASSES bars (the rest as "other")."""
    fig = _figure("Examples per class", "class", "examples", "balance", None)
    fig.update_layout(hovermode="closest", showlegend=False)
    if counts:
        shown = top_counts(counts)
        names, values = inert.plot_names(list(shown)), list(shown.values())
        bar = go.Bar(x=names, y=values, text=values, textposition="auto", marker_color=TRAIN_COLOR)
        fig.add_trace(bar)
        fig.update_xaxes(type="category")
    else:
        _say(fig, "no labels found")
    return fig


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:  # Python 3.10 does not accept a trailing "Z"
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


ENDED = ("stopped", "failed", "interrupted")  # no time left to show


def progress(status: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Where a run stands: step, max_steps, fraction, epoch, steps_per_sec, eta_seconds and
    elapsed_seconds (None where unknown), from status.json and the metrics records.

    The speed comes from the records' "time" (seconds since start) over the latest stretch
    where it only grows (a resumed run starts its clock again), else from status times."""
    timed: list[Point] = []
    for record in records:
        step_, time_ = _num(record.get("step")), _num(record.get("time"))
        if step_ is not None and time_ is not None:
            if timed and time_ < timed[-1][1]:
                timed = []  # the clock restarted: a resumed run
            timed.append((step_, time_))
    step = _num(status.get("step"))
    if step is None:
        step = _last(records, "step")
    max_steps = _num(status.get("max_steps")) or None
    epoch = _last(records, "epoch")
    elapsed = seconds_between(status.get("started"), status.get("updated"))
    rate = None
    if len(timed) >= 2 and timed[-1][1] > timed[0][1] and timed[-1][0] > timed[0][0]:
        rate = (timed[-1][0] - timed[0][0]) / (timed[-1][1] - timed[0][1])
    elif step and elapsed:
        rate = step / elapsed
    if elapsed is None and timed:
        elapsed = timed[-1][1]
    fraction = min(max(step / max_steps, 0.0), 1.0) if step is not None and max_steps else None
    eta, state = None, status.get("state")
    if state == "completed":
        eta = 0.0
    elif state not in ENDED and rate and max_steps and step is not None:
        eta = max(max_steps - step, 0.0) / rate
    return {
        "state": state,
        "step": int(step) if step is not None else None,
        "max_steps": int(max_steps) if max_steps else None,
        "fraction": fraction,
        "epoch": epoch,
        "steps_per_sec": rate,
        "eta_seconds": eta,
        "elapsed_seconds": elapsed,
    }


def _last(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    return next((v for r in reversed(records) if (v := _num(r.get(key))) is not None), None)


def seconds_between(start: Any, end: Any) -> float | None:
    """Seconds from one ISO 8601 time to another (status.json's), None when either is missing."""
    a, b = _parse_time(start), _parse_time(end)
    return (b - a).total_seconds() if a and b else None


def format_eta(seconds: float | None) -> str:
    """Short human duration: "45s", "1m 05s", "2h 03m", "1d 04h"; "–" when unknown."""
    value = _num(seconds)
    if value is None or value < 0:
        return "–"
    s = round(value)
    for size, unit, part, sub in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s")):
        if s >= size:
            return f"{s // size}{unit} {s % size // part:02d}{sub}"
    return f"{s}s"
