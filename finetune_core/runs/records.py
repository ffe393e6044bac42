"""metrics.jsonl as types: one JSON object a line, of three kinds.

    Log    {"step", "epoch", "time", "loss", "learning_rate", "grad_norm", ...}: training;
           an evaluation line carries "eval_loss", "eval_accuracy", "eval_f1_macro", ...
    Trial  {"step": 0, "epoch": 0, "lr_trial", "trial_learning_rate", "trial_eval_loss",
           "trial_train_loss"}: the learning-rate search (no "loss": charts ignore it)
    End    {"event": "end", "state", "error", "step", "time"}: the last line of a run that
           ended (written with its final status by the writer, never alone)

The charts read the lines as plain records (charts.py imports nothing); the readers that
interpret them (the page's log, the runs list, a resumed run's clock) use these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

END = "end"


@dataclass(frozen=True)
class Log:
    step: int
    epoch: float
    time: float
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def is_eval(self) -> bool:
        return any(k.startswith("eval_") for k in self.values)

    def to_dict(self) -> dict[str, Any]:
        reserved = ("step", "epoch", "time", "event")
        extra = {k: v for k, v in self.values.items() if k not in reserved}
        return {"step": self.step, "epoch": self.epoch, "time": self.time, **extra}


@dataclass(frozen=True)
class Trial:
    index: int
    learning_rate: float
    eval_loss: float
    train_loss: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": 0,
            "epoch": 0,
            "lr_trial": self.index,
            "trial_learning_rate": self.learning_rate,
            "trial_eval_loss": self.eval_loss,
            "trial_train_loss": self.train_loss,
        }


@dataclass(frozen=True)
class End:
    state: str
    error: str | None = None
    step: int | None = None
    time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": END, "state": self.state}
        pairs = (("error", self.error), ("step", self.step), ("time", self.time))
        out.update({k: v for k, v in pairs if v is not None})
        return out


Record = Log | Trial | End


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse(record: dict) -> Record | None:
    """The typed record of one line; None for a line that is none of the three."""
    if record.get("event") == END:
        step = record.get("step")
        return End(
            str(record.get("state") or "unknown"),
            record.get("error") if isinstance(record.get("error"), str) else None,
            step if isinstance(step, int) and not isinstance(step, bool) else None,
            _number(record.get("time")),
        )
    if "event" in record:
        return None
    if "lr_trial" in record:
        return Trial(
            int(_number(record.get("lr_trial")) or 0),
            _number(record.get("trial_learning_rate")) or math.nan,
            _number(record.get("trial_eval_loss")) or math.nan,
            _number(record.get("trial_train_loss")) or math.nan,
        )
    step = _number(record.get("step"))
    if step is None:
        return None
    values = {k: v for k, v in record.items() if k not in ("step", "epoch", "time")}
    epoch, seconds = _number(record.get("epoch")) or 0.0, _number(record.get("time")) or 0.0
    return Log(int(step), epoch, seconds, values)


def logs(records: list[dict]) -> list[Log]:
    return [r for r in map(parse, records) if isinstance(r, Log)]


def last_end(records: list[dict]) -> End | None:
    """The end line of the run's last attempt (a resume drops the earlier ones)."""
    for record in reversed(records):
        parsed = parse(record) if record.get("event") else None
        if isinstance(parsed, End):
            return parsed
    return None


def elapsed(records: list[dict]) -> float:
    """The run's clock so far (a resumed run's time continues from here)."""
    times = [r["time"] for r in records if _number(r.get("time")) is not None]
    return max(times) if times else 0.0


def last_eval(records: list[dict]) -> dict[str, float]:
    """The last evaluation's accuracy and macro F1 (a run without eval.json still shows it)."""
    for log in reversed(logs(records)):
        if "eval_accuracy" in log.values:
            pairs = (("accuracy", "eval_accuracy"), ("f1_macro", "eval_f1_macro"))
            found = {k: _number(log.values.get(v)) for k, v in pairs}
            return {k: v for k, v in found.items() if v is not None}
    return {}


def last_step(records: list[dict]) -> tuple[int, float] | None:
    """(step, epoch) of the latest line past step 0."""
    for log in reversed(logs(records)):
        if log.step > 0:
            return log.step, log.epoch
    return None
