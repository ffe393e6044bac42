"""Try a fine-tuned model: class probabilities for a text or an image (the playground)."""

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
    import torch

    model_dir = RunDir(run_dir).model_dir
    if not RunDir(run_dir).has_model():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    model, proc, is_image, max_length = _load(
        str(model_dir), (model_dir / "config.json").stat().st_mtime
    )
    if is_image:
        if inputs is None or isinstance(inputs, str):
            raise RunError("This is an image model; upload an image to try it.")
        batch = proc(images=[inputs.convert("RGB")], return_tensors="pt")
    else:
        if not isinstance(inputs, str) or not inputs.strip():
            raise RunError("Type some text to try the model.")
        batch = proc([inputs], truncation=True, max_length=max_length, return_tensors="pt")
    with _LOCK, torch.inference_mode():
        logits = model(**batch).logits[0].float()
    probs = torch.softmax(logits, -1).tolist()
    names = model.config.id2label
    return {names.get(i, str(i)): p for i, p in enumerate(probs)}
