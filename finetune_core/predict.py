"""Try a fine-tuned model: class probabilities for a text or an image (the playground), or
for many at once (predict_many: texts in length-sorted batches, results in input order)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from finetune_core.errors import RunError
from finetune_core.runs import RunDir

_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _load(model_dir: str, mtime: float):
    """Model + processor of a run, cached by folder and save time (a re-save reloads)."""
    import json

    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    is_image = (Path(model_dir) / "preprocessor_config.json").exists() and not (
        Path(model_dir) / "tokenizer_config.json"
    ).exists()
    auto = AutoModelForImageClassification if is_image else AutoModelForSequenceClassification
    model = auto.from_pretrained(model_dir).eval()
    proc = (AutoImageProcessor if is_image else AutoTokenizer).from_pretrained(model_dir)
    max_length = json.loads((Path(model_dir) / "config.json").read_text()).get(
        "max_position_embeddings", 512
    )
    return model, proc, is_image, min(int(max_length), 512)


def predict(run_dir: str | Path, inputs: Any) -> dict[str, float]:
    """{label: probability} for one text (str) or one image (PIL.Image)."""
    return predict_many(run_dir, [inputs])[0]


def predict_many(
    run_dir: str | Path, inputs: list[Any], *, batch_size: int = 32
) -> list[dict[str, float]]:
    """{label: probability} for each text or image, in the order given. Texts run longest
    first, so each batch pads little (2.5x faster on long-tailed text, issue 15)."""
    import torch

    run = RunDir(run_dir)
    model_dir = run.model_dir
    if not run.has_model():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    model, proc, is_image, max_length = _load(
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
        with _LOCK, torch.inference_mode():
            logits = model(**batch).logits.float()
        probs = (torch.sigmoid(logits) if multi else torch.softmax(logits, -1)).tolist()
        for i, row in zip(chunk, probs, strict=True):
            results[i] = {names.get(j, str(j)): p for j, p in enumerate(row)}
    return results
