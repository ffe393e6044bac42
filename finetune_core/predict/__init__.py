"""Use a fine-tuned model: class probabilities and the decision for a text or an image (the
playground), for many at once (predict_many: texts in length-sorted batches, results in input
order), and for a whole file (predict/file.py: `finetune predict` and the Results step).

The decision is owned here, and every surface asks `thresholds(run_dir)` for it: single-label
is the most probable class; multi-label is every label whose probability is above its
threshold, the tuned ones stored in model/config.json (`label_thresholds`) when present, else
the run's `threshold` (config.json, default 0.5). "Above" is strict, as in the run's evaluation
(train/multilabel_metrics.py), so a file's predictions and eval.json count the same labels.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from finetune_core.errors import RunError
from finetune_core.runs import RunDir, read_json

_LOCK = threading.Lock()
THRESHOLDS_KEY = "label_thresholds"  # model/config.json: {label name: decision threshold}
DEFAULT_THRESHOLD = 0.5  # RunConfig's `threshold` default, for a run folder without one
NO_MODEL = "This run has no saved model yet; wait for it to finish or stop it."


@dataclass(frozen=True)
class Thresholds:
    """How a model's scores become its prediction."""

    labels: tuple[str, ...]
    multi_label: bool
    default: float = DEFAULT_THRESHOLD  # the run's `threshold`, for labels without a tuned one
    by_label: dict[str, float] = field(default_factory=dict)  # model/config.json's, if any

    def of(self, label: str) -> float:
        return self.by_label.get(label, self.default)

    def decide(self, scores: dict[str, float]) -> str | list[str]:
        """The label name (single-label), or the names that are on, in label order."""
        if not self.multi_label:
            return max(scores, key=scores.__getitem__)  # the first of equals, as argmax
        return [name for name, p in scores.items() if p > self.of(name)]


def thresholds(run_dir: str | Path) -> Thresholds:
    """The decision rule of a run's saved model (see the module's docstring)."""
    run = RunDir(run_dir)
    if not run.has_model():
        raise RunError(NO_MODEL)
    model_cfg = read_json(run.model_dir / "config.json") or {}
    id2label = model_cfg.get("id2label") or {}
    labels = tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    multi = model_cfg.get("problem_type") == "multi_label_classification"
    default = (run.read_config() or {}).get("threshold", DEFAULT_THRESHOLD)
    stored = model_cfg.get(THRESHOLDS_KEY) or {}
    where = f"{run.model_dir / 'config.json'}'s {THRESHOLDS_KEY}"
    if not isinstance(stored, dict) or not all(_fraction(v) for v in stored.values()):
        raise RunError(f"{where} must map label names to numbers from 0 to 1; fix or remove it.")
    unknown = sorted(set(stored) - set(labels))
    if unknown:
        raise RunError(
            f"{where} names labels the model does not have ({', '.join(unknown)}); its labels "
            f"are {', '.join(labels)}."
        )
    if not _fraction(default):
        default = DEFAULT_THRESHOLD
    by_label = {k: float(v) for k, v in stored.items()}
    return Thresholds(labels, multi, float(default), by_label)


def _fraction(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


@dataclass(frozen=True)
class Prediction:
    """One input's answer: what `finetune predict` writes and the playground shows."""

    prediction: str | list[str]
    scores: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"prediction": self.prediction, "scores": self.scores}


def is_image_model(model_dir: Path) -> bool:
    """A saved image model has an image processor and no tokenizer."""
    return (model_dir / "preprocessor_config.json").exists() and not (
        model_dir / "tokenizer_config.json"
    ).exists()


@lru_cache(maxsize=2)
def _load(model_dir: str, mtime: float):
    """Model + processor of a run, cached by folder and save time (a re-save reloads). On the
    GPU when there is one: a large file is then minutes instead of hours."""
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    is_image = is_image_model(Path(model_dir))
    auto = AutoModelForImageClassification if is_image else AutoModelForSequenceClassification
    model = auto.from_pretrained(model_dir).eval()
    if torch.cuda.is_available():
        model = model.to("cuda")
    proc = (AutoImageProcessor if is_image else AutoTokenizer).from_pretrained(model_dir)
    limit = (read_json(Path(model_dir) / "config.json") or {}).get("max_position_embeddings")
    return model, proc, is_image, min(int(limit or 512), 512)


def predict(run_dir: str | Path, inputs: Any) -> dict[str, float]:
    """{label: probability} for one text (str) or one image (PIL.Image)."""
    return predict_many(run_dir, [inputs])[0]


def classify(
    run_dir: str | Path, inputs: list[Any], *, batch_size: int = 32, rule: Thresholds | None = None
) -> list[Prediction]:
    """The prediction (thresholds applied) and the scores of each input, in order; `rule` is
    the run's thresholds when the caller has them already (a file's chunks read them once)."""
    rule = thresholds(run_dir) if rule is None else rule
    return [
        Prediction(rule.decide(s), s) for s in predict_many(run_dir, inputs, batch_size=batch_size)
    ]


def playground(run_dir: str | Path, item: Any) -> tuple[dict[str, float], str]:
    """The playground's answer for one text or image: the class probabilities, and for a
    multi-label run the sentence naming the labels over their thresholds ("" otherwise)."""
    rule = thresholds(run_dir)
    (answer,) = classify(run_dir, [item], rule=rule)
    if not rule.multi_label:  # the probabilities' headline is the prediction
        return answer.scores, ""
    on = ", ".join(f"{n} (over {rule.of(n):.2f})" for n in answer.prediction)
    return answer.scores, f"Labels on: {on or 'none (no label over its threshold)'}"


def predict_many(
    run_dir: str | Path, inputs: list[Any], *, batch_size: int = 32
) -> list[dict[str, float]]:
    """{label: probability} for each text or image, in the order given. Texts run longest
    first, so each batch pads little (2.5x faster on long-tailed text, issue 15), and are cut
    at the run's max_length, as training and its evaluation cut them."""
    import torch

    run = RunDir(run_dir)
    model_dir = run.model_dir
    if not run.has_model():
        raise RunError(NO_MODEL)
    model, proc, is_image, limit = _load(
        str(model_dir), (model_dir / "config.json").stat().st_mtime
    )
    for item in inputs:
        if is_image and (item is None or isinstance(item, str)):
            raise RunError("This is an image model; upload an image to try it.")
        if not is_image and (not isinstance(item, str) or not item.strip()):
            raise RunError("Type some text to try the model.")
    if is_image:
        order = list(range(len(inputs)))
        encoded = None
    else:
        trained = (run.read_config() or {}).get("max_length")
        max_length = min(limit, int(trained)) if trained else limit
        encoded = proc(list(inputs), truncation=True, max_length=max_length)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
    names = model.config.id2label
    # multi-label: an independent probability per class (sigmoid), else a softmax
    multi = getattr(model.config, "problem_type", None) == "multi_label_classification"
    results: list[dict[str, float]] = [{} for _ in inputs]
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        if is_image:
            images = [inputs[i].convert("RGB") for i in chunk]
            batch = proc(images=images, return_tensors="pt")
        else:
            rows = [{k: encoded[k][i] for k in encoded} for i in chunk]
            batch = proc.pad(rows, return_tensors="pt")
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with _LOCK, torch.inference_mode():
            logits = model(**batch).logits.float()
        probs = (torch.sigmoid(logits) if multi else torch.softmax(logits, -1)).cpu().tolist()
        for i, row in zip(chunk, probs, strict=True):
            results[i] = {names.get(j, str(j)): p for j, p in enumerate(row)}
    return results
