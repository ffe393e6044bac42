"""Training health: plain sentences in status.json `warnings` when a run is not learning.

Fed from the Trainer's logs by HealthCallback (and once more with the final metrics). Each rule
names what it saw and what to try. The list says how the run stands now: a flat loss that
starts to fall, or a collapsed model whose next evaluation predicts several classes again,
takes its warning back (a slow start is not a failure); a divergence stays said. A resumed run
keeps the warnings already given. The rules, and why these thresholds:

- flat: a classifier that outputs the same distribution for every input has a loss of
  ln(number of classes) on balanced data (or with class weights), and the entropy of the class
  frequencies on imbalanced data with the plain loss; multi-label, the mean over labels of
  each one's binary entropy (plain loss) or 2(1-p) ln 2 (positives weighted, class_weight:
  balanced: such a loss starts near 1.3, and 0.73 was once called "about ln 2"); still
  within 10% of it after a fair share of the steps (a third of the run, at least 10 and at
  most 100) means nothing is learned.
- collapse: every evaluation example predicted as one class (the SMS-spam case: all "ham").
- diverging: the recent loss more than twice its best so far, above 1.5 x ln(classes) and above
  where it started: the steps are too large (a non-finite loss also stops the run, see
  callbacks.py).
- multi-label, the final evaluation: at least 4 times as many labels predicted per row as the
  data has (and 3 or more), or no label at all for most rows.
- no better than the majority: the final macro F1 at most that of always predicting the most
  frequent class (plus 0.01); 0.1 above it takes a "flat" warning back (a short multi-label
  run on 120 rows ended at macro F1 0.98 with its loss still near what guessing costs).
"""

from __future__ import annotations

import math

from transformers import TrainerCallback

from finetune_core.runs import RunWriter

FLAT_TOLERANCE = 0.10
RECENT = 3  # logged losses averaged, so one noisy batch neither fires nor hides a rule
MARGIN = 0.01
LEARNED = 0.1  # final macro F1 this far above the majority's: the loss's "flat" was wrong


class Health:
    """The rules over a run's numbers; `warnings` is the list for status.json."""

    def __init__(
        self,
        label_names: list[str],
        previous: list[str] | None = None,
        *,
        multi_label: bool = False,
        priors: list[float] | None = None,
        label_rates: list[float] | None = None,
        weighted: bool = False,
    ):
        self.label_names = list(label_names)
        self.multi_label = multi_label
        self.priors = priors  # class frequencies, when the plain loss is used on imbalanced data
        self.label_rates = label_rates  # multi-label: each label's share of rows
        self.weighted = weighted  # multi-label: positives weighted by negatives / positives
        self.current: dict[str, str] = {f"earlier-{i}": w for i, w in enumerate(previous or [])}
        self.losses: list[float] = []

    @property
    def warnings(self) -> list[str]:
        return list(self.current.values())

    @property
    def chance_loss(self) -> float:
        """Loss of a model that ignores its input: ln(classes); per label, ln 2 (multi-label);
        with the plain loss on imbalanced classes, the entropy of the class frequencies (what
        always answering them gives)."""
        if self.priors:
            return -sum(p * math.log(p) for p in self.priors if p > 0)
        if self.multi_label and self.label_rates:
            return sum(map(self._label_chance, self.label_rates)) / len(self.label_rates)
        return math.log(2 if self.multi_label else max(2, len(self.label_names)))

    def _label_chance(self, p: float) -> float:
        """One label's loss for a constant answer: its binary entropy with the plain loss; with
        positives weighted (1-p)/p the best constant is 1/2, which costs 2(1-p) ln 2."""
        if not 0 < p < 1:
            return 0.0
        if self.weighted:
            return 2 * (1 - p) * math.log(2)
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    def _fire(self, kind: str, sentence: str) -> bool:
        if kind in self.current or sentence in self.current.values():
            return False
        self.current[kind] = sentence
        return True

    def _clear(self, kind: str) -> bool:
        return self.current.pop(kind, None) is not None

    def say(self, kind: str, sentence: str | None) -> bool:
        """A warning of another part of the run (None takes it back); True when it changed."""
        return self._clear(kind) if sentence is None else self._fire(kind, sentence)

    def on_loss(self, step: int, loss: float, max_steps: int | None) -> bool:
        """A training loss was logged; True when the warnings changed."""
        if not math.isfinite(loss):
            return self._fire(
                "diverging",
                f"The loss became {loss} at step {step}: lower the learning rate (try a tenth) "
                "or freeze more layers.",
            )
        self.losses.append(loss)
        if len(self.losses) < RECENT:
            return False
        recent = sum(self.losses[-RECENT:]) / RECENT
        fired = False
        fair = max(10, min(100, (max_steps or 0) // 3))
        if recent < (1 - FLAT_TOLERANCE) * self.chance_loss:
            fired |= self._clear("flat")
        elif step >= fair and abs(recent - self.chance_loss) <= FLAT_TOLERANCE * self.chance_loss:
            fired |= self._fire(
                "flat",
                f"After {step} steps the loss is still {recent:.3f}, about {self._guess}"
                f" = {self.chance_loss:.3f}, what guessing gives: the "
                "model is not learning; try a higher learning rate (x10), training the pooler "
                "or more layers (freeze), or class_weight: balanced if one class dominates.",
            )
        best = min(self.losses)
        start = sum(self.losses[:RECENT]) / RECENT
        # above where it started, too: a weighted multi-label loss swings by batch (a rare
        # label's positives weigh up to ~100), and its dips are not a baseline to rise from
        if recent > 2 * best and recent > 1.5 * self.chance_loss and recent > start:
            fired |= self._fire(
                "diverging",
                f"The loss is rising (now {recent:.3f}, best {best:.3f}) at step {step}: the "
                "learning rate is too high; try a tenth of it, or warmup_ratio 0.1.",
            )
        return fired

    def on_eval(self, step: int, predicted_classes: int, top_class: int | None) -> bool:
        """An evaluation finished; predicted_classes = how many classes were predicted at all."""
        if predicted_classes != 1 or len(self.label_names) < 2:
            return self._clear("collapse")
        name = self._name(top_class)
        if self.multi_label:
            name = "the same set of labels"
        return self._fire(
            "collapse",
            f"At step {step} every evaluation example was predicted as {name}: the model ignores "
            "its input; try class_weight: balanced, a higher learning rate, or training the "
            "pooler or more layers (freeze).",
        )

    def on_final(self, f1_macro: float, baseline_f1: float, majority: str) -> bool:
        """The final evaluation: is the model better than always answering the majority? One
        clearly better (LEARNED) has learned, whatever its loss looked like on the way: a
        "not learning" said from the loss is taken back (a short run can end near chance
        loss and still predict well)."""
        if f1_macro > baseline_f1 + MARGIN:
            learned = f1_macro > baseline_f1 + LEARNED and self._clear("flat")
            return self._clear("majority") | learned
        return self._fire(
            "majority",
            f"The final macro F1 ({f1_macro:.3f}) is no better than always predicting "
            f"'{majority}' ({baseline_f1:.3f}): try class_weight: balanced, a higher "
            "learning rate, more epochs, or training the pooler or more layers (freeze).",
        )

    def on_label_counts(self, per_row: dict[str, float], num_labels: int) -> bool:
        """Multi-label, the final evaluation: a model that answers (almost) every label, or
        none, for most rows is not usable however its loss looks."""
        true, predicted = per_row.get("true", 0.0), per_row.get("predicted", 0.0)
        empty = per_row.get("rows_without_prediction", 0.0)
        if predicted >= max(3.0, 4 * true):
            return self._fire(
                "flood",
                f"The model predicts {predicted:.1f} labels per row where the data has "
                f"{true:.1f}: almost every label for every row; use class_weight: none or a "
                "higher threshold, or leave threshold empty to tune it per label.",
            )
        if empty > 0.5 and true >= 0.5:
            return self._fire(
                "no-label",
                f"The model predicts no label at all for {empty:.0%} of the rows: lower the "
                "threshold, leave it empty to tune it per label, or train longer or more layers.",
            )
        return self._clear("flood") | self._clear("no-label")

    @property
    def _guess(self) -> str:
        if self.priors:
            return "the entropy of the class frequencies"
        if self.multi_label and self.label_rates:
            return "what a constant answer per label costs"
        return f"ln({2 if self.multi_label else len(self.label_names)})"

    def _name(self, index: int | None) -> str:
        if index is not None and 0 <= index < len(self.label_names):
            return f"'{self.label_names[index]}'"
        return "one class"


class HealthCallback(TrainerCallback):
    """Feeds Health from the Trainer's logs and writes `warnings` into status.json."""

    def __init__(self, writer: RunWriter, health: Health):
        self.writer, self.health = writer, health

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        fired = False
        if isinstance(logs.get("loss"), int | float):
            fired |= self.health.on_loss(state.global_step, float(logs["loss"]), state.max_steps)
        if isinstance(logs.get("eval_predicted_classes"), int | float):
            top = logs.get("eval_top_class")
            fired |= self.health.on_eval(
                state.global_step,
                int(logs["eval_predicted_classes"]),
                int(top) if isinstance(top, int | float) else None,
            )
        if fired:
            self.write()

    def write(self) -> None:
        self.writer.note(warnings=list(self.health.warnings))
