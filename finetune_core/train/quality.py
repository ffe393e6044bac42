"""Issue 14's part of a run, in one place so train/run.py only calls it: training health,
class weights, keep_best and early stopping.

    hooks = quality.for_run(cfg, writer, prepared)
    Trainer(..., compute_metrics=hooks.compute_metrics, callbacks=[..., *hooks.callbacks],
            **hooks.trainer_kwargs)       # the best weights come back at the end of training
    result = hooks.report(logits, labels, label_names)   # eval.json, with best_step
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finetune_core.runs import RunWriter
from finetune_core.train import baseline, evaluation, multilabel_metrics, thresholds
from finetune_core.train.best import BestCallback, metric_name
from finetune_core.train.health import Health, HealthCallback
from finetune_core.train.losses import (
    WeightedBCE,
    WeightedCrossEntropy,
    balanced_weights,
    positive_weights,
)


@dataclass
class QualityHooks:
    health: Health
    health_callback: HealthCallback
    best: BestCallback
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)
    multi_label: bool = False
    threshold: float | None = None  # multi-label: None = tuned on the selection split
    search_lr: bool = False  # learning_rate was null: lr_search.run_for may pick it
    thresholds: list[float] | None = None  # multi-label: the cuts the final model uses

    @property
    def problem_type(self) -> str:
        return "multi_label" if self.multi_label else "single_label"

    @property
    def callbacks(self) -> list:
        return [self.health_callback, self.best]

    @property
    def warnings(self) -> list[str]:
        return list(self.health.warnings)

    def after_final_eval(self, report: dict[str, Any]) -> dict[str, Any]:
        """Add best_step (and early stopping) to eval.json; check the majority-baseline rule."""
        report["best_step"] = self.best.best_step if self.best.keep else None
        report["metric_for_best"] = self.best.metric
        if self.best.stopped_early_at is not None:
            report["early_stopped_at"] = self.best.stopped_early_at
        changed = "majority_f1_macro" in report and self.health.on_final(
            report["f1_macro"], report["majority_f1_macro"], str(report.get("majority_class"))
        )
        if "labels_per_row" in report:
            changed |= self.health.on_label_counts(
                report["labels_per_row"], len(self.health.label_names)
            )
        if changed:
            self.health_callback.write()
        return report

    def on_baseline(self, report: dict[str, Any], fitted: dict[str, Any]) -> bool:
        """The health warning when the quick baseline does as well; True when it changed."""
        if "skipped" in fitted:
            return False
        return self.health.say("baseline", baseline.verdict(report, fitted))

    @property
    def compute_metrics(self):
        """The Trainer's compute_metrics: single-label (argmax) or multi-label (threshold)."""
        if self.multi_label:
            return multilabel_metrics.compute_metrics_for(self.threshold)
        return evaluation.compute_metrics

    def report(
        self, logits, labels, label_names: list[str], *, examples=None, selection=None
    ) -> dict[str, Any]:
        """What eval.json holds: the metrics of the final evaluation (the report split), plus
        best_step. selection: (logits, labels) of the selection split, where multi-label
        thresholds are tuned (train/thresholds.py) when `threshold` is empty."""
        if self.multi_label:
            if self.threshold is not None or selection is None:
                cut = self.threshold if self.threshold is not None else 0.5
                self.thresholds, origin = [cut] * len(label_names), "threshold"
            else:
                probs = multilabel_metrics.sigmoid(selection[0])
                self.thresholds = thresholds.tune(probs, selection[1])
                origin = "tuned on the selection split"
            result = multilabel_metrics.report(
                logits, labels, label_names, threshold=self.thresholds, examples=examples
            )
            result["thresholds_from"] = origin
        else:
            result = evaluation.report(logits, labels, label_names, examples=examples)
        return self.after_final_eval(result)


def for_run(cfg, writer: RunWriter, prepared) -> QualityHooks:
    """Call before preprocessing (the class weights read the raw label column), with the config
    as asked (a null learning rate may be searched)."""
    previous = writer.read().warnings
    # the data's own warnings (skipped images, near-duplicate labels) stay in the same list
    previous = list(dict.fromkeys([*previous, *getattr(prepared, "warnings", [])]))
    multi = bool(getattr(prepared, "multi_label", False))
    best = BestCallback(
        writer.run,
        metric_name(cfg, multi),
        keep=cfg.keep_best,
        patience=cfg.early_stopping_patience,
    )
    kwargs: dict[str, Any] = {}
    labels = list(prepared.train[prepared.columns.label])  # before preprocessing; read once
    if cfg.class_weight == "balanced":
        if multi:
            weights, loss = positive_weights(labels), WeightedBCE
        else:
            weights = balanced_weights(labels, len(prepared.label_names))
            loss = WeightedCrossEntropy
        # equal weights change nothing: keep the model's own loss (bit for bit as before)
        if max(weights) - min(weights) > 1e-6 or (multi and max(weights) != 1.0):
            kwargs["compute_loss_func"] = loss(weights)
            writer.note(class_weights=[round(w, 4) for w in weights])
    priors = None
    if not multi and "compute_loss_func" not in kwargs:  # the plain loss: guessing = priors
        counts = Counter(labels)
        total = sum(counts.values())
        priors = [counts[k] / total for k in range(len(prepared.label_names))]
        priors = priors if max(priors) - min(priors) > 1e-9 else None  # balanced: ln(classes)
    rates = None
    if multi:  # each label's share of the training rows: what a constant answer costs
        rates = [sum(col) / len(labels) for col in zip(*labels, strict=True)] if labels else None
    health = Health(
        prepared.label_names,
        previous,
        multi_label=multi,
        priors=priors,
        label_rates=rates,
        weighted="compute_loss_func" in kwargs,
    )
    callback = HealthCallback(writer, health)
    search = cfg.learning_rate is None  # a resumed run has the rate it chose in its config
    return QualityHooks(health, callback, best, kwargs, multi, cfg.threshold, search)
