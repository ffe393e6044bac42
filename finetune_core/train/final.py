"""The end of a run: the kept model scored where selection never looked, beside the quick
baseline, into eval.json.

    metrics = final.evaluate(trainer, prepared, report_rows, writer, hooks, seed)

1. The selection split, when its last evaluation was of other weights (keep_best restored the
   best ones, or a stop came mid-epoch; logged as an evaluation line) or when multi-label
   thresholds are tuned on it.
2. The report split (data/splits.py keeps it apart): eval.json's numbers; the thresholds go on
   the model's config, so every later prediction applies them.
3. The quick baseline (train/baseline.py) on the same rows, and its health warning.
"""

from __future__ import annotations

from typing import Any

from finetune_core import model as model_mod
from finetune_core.runs import RunWriter, phases, read_metrics, records
from finetune_core.train import baseline
from finetune_core.train.setup import agree

SUMMARY = ("accuracy", "f1_macro", "f1_micro", "report_split", "num_examples", "baseline")


def evaluate(trainer, prepared, report_rows, writer: RunWriter, hooks, seed: int) -> dict:
    """eval.json for the trainer's current (kept) model; returns the CLI's summary of it."""
    logs = records.logs(read_metrics(writer.run.path)) if writer.main else []
    last = [r for r in logs if "eval_loss" in r.values]
    # decided on the main process (the one that reads the metrics) and agreed by every one:
    # the predict below is a collective, and a rank that skipped it left the others waiting
    stale = agree(not last or last[-1].step != trainer.state.global_step)
    selection = None
    if stale or hooks.multi_label:  # multi-label: the thresholds are tuned on these
        out = trainer.predict(trainer.eval_dataset, metric_key_prefix="eval")
        if stale:
            trainer.log({k: v for k, v in out.metrics.items() if k.startswith("eval_")})
        selection = (logits_of(out), out.label_ids)
    output = trainer.predict(report_rows, metric_key_prefix="report")
    examples = prepared.report_raw[prepared.columns.text] if prepared.columns.text else None
    result = hooks.report(
        logits_of(output),
        output.label_ids,
        prepared.label_names,
        examples=examples,
        selection=selection,
    )
    if hooks.thresholds is not None:  # saved with the model: every prediction applies them
        names = prepared.label_names
        trainer.model.config.label_thresholds = dict(zip(names, hooks.thresholds, strict=True))
    result["selection_split"] = prepared.eval_source
    result["report_split"] = prepared.report_source
    if writer.main:
        writer.phase(phases.BASELINE)
        result["baseline"] = quick_baseline(prepared, seed)
        if hooks.on_baseline(result, result["baseline"]):
            hooks.health_callback.write()
    writer.eval(result)
    return {k: result[k] for k in SUMMARY if k in result}


def quick_baseline(prepared, seed: int) -> dict[str, Any]:
    """The report's `baseline`, or why there is none: a baseline that cannot be fitted (one
    class in the training rows, no words) never fails the run."""
    cols = prepared.columns
    task = "image" if cols.task == model_mod.IMAGE else "text"
    column = cols.image if task == "image" else cols.text

    def part(split, limit: int | None = None) -> tuple[list, list]:
        if limit is not None and len(split) > limit:  # the rows the baseline uses, no more
            split = split.select(range(limit))  # (an image column decodes what it reads)
        return list(split[column]), list(split[cols.label])

    try:
        return baseline.fit(
            task,
            part(prepared.train_raw, baseline.MAX_ROWS),
            part(prepared.eval_raw),
            part(prepared.report_raw),
            num_labels=len(prepared.label_names),
            multi_label=prepared.multi_label,
            seed=seed,
        )
    except Exception as exc:  # the yardstick is optional; the run's own result stands
        name = baseline.IMAGE_NAME if task == "image" else baseline.TEXT_NAME
        return {"name": name, "skipped": str(exc).splitlines()[0][:200] if str(exc) else repr(exc)}


def logits_of(output):
    return output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
