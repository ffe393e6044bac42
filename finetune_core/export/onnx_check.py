"""The parity check behind `finetune export --format onnx`: the run's evaluation set, rebuilt
from its config.json exactly as training built it, run through PyTorch and onnxruntime; and
the exported folder's README with its onnxruntime snippet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_core.config import RunConfig
from finetune_core.errors import FinetuneError, RunError

BATCH = 32


def load_model(model_dir: Path) -> tuple[Any, Any, str]:
    """(model in eval mode, tokenizer or image processor, "text" | "image") of a saved model."""
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    is_image = (model_dir / "preprocessor_config.json").exists() and not (
        model_dir / "tokenizer_config.json"
    ).exists()
    auto = AutoModelForImageClassification if is_image else AutoModelForSequenceClassification
    model = auto.from_pretrained(str(model_dir)).float().eval()
    processor = (AutoImageProcessor if is_image else AutoTokenizer).from_pretrained(str(model_dir))
    return model, processor, "image" if is_image else "text"


@dataclass
class EvalSet:
    """The first examples of a run's evaluation split, preprocessed into numpy batches."""

    batches: list[dict[str, Any]]
    labels: list[Any]
    total: int  # examples in the whole evaluation split

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def load(
        cls, run, processor, task: str, *, token: str | None, max_examples: int | None
    ) -> EvalSet:
        from finetune_core.data import prepare

        saved = run.read_config()
        if saved is None:
            raise RunError(f"{run.path} has no config.json; it is not a run folder.")
        cfg = RunConfig.from_dict(saved)
        try:
            prepared = prepare.prepare(cfg, token=token)
        except FinetuneError as exc:
            raise RunError(
                f"The evaluation set, needed to check the ONNX model, could not be loaded: {exc}"
            ) from None
        split, cols = prepared.report_raw, prepared.columns
        total = len(split)
        split = split.select(range(min(total, max_examples or total)))
        batches = []
        for start in range(0, len(split), BATCH):
            rows = split[start : start + BATCH]
            if task == "image":
                images = [im.convert("RGB") for im in rows[cols.image]]
                out = processor(images=images, return_tensors="np")
                batches.append({"pixel_values": out["pixel_values"]})
            else:
                out = processor(
                    rows[cols.text],
                    truncation=True,
                    max_length=cfg.max_length,
                    padding=True,
                    return_tensors="np",
                )
                batches.append(dict(out))
        return cls(batches, list(split[cols.label]), total)

    def sample(self) -> dict[str, Any]:
        """A batch of at least two rows to export with (size-1 dimensions get fixed)."""
        import numpy as np

        first = self.batches[0]
        if len(next(iter(first.values()))) >= 2:
            return first
        return {k: np.concatenate([v, v]) for k, v in first.items()}

    def logits_torch(self, model):
        import numpy as np
        import torch

        with torch.inference_mode():
            outs = [
                model(**{k: torch.as_tensor(v) for k, v in b.items()}).logits.float().numpy()
                for b in self.batches
            ]
        return np.concatenate(outs)

    def logits_onnx(self, path: Path):
        import numpy as np
        import onnxruntime as ort
        import torch

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the CLI's chosen thread count
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        outs = [
            session.run(None, {k: v for k, v in b.items() if k in names})[0] for b in self.batches
        ]
        return np.concatenate(outs).astype(np.float32)

    def accuracy(self, logits) -> float | None:
        """Share of examples whose top class is the label (None unless labels are classes)."""
        if not self.labels or not all(isinstance(y, int) for y in self.labels):
            return None
        hits = sum(
            int(p == y) for p, y in zip(logits.argmax(-1).tolist(), self.labels, strict=True)
        )
        return hits / len(self.labels)


TEXT_SNIPPET = """\
import json

import numpy as np
import onnxruntime as ort
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(".")
session = ort.InferenceSession("{file}")
names = {{i.name for i in session.get_inputs()}}
batch = tokenizer(
    ["Type your text here"], truncation=True, max_length={max_length}, return_tensors="np"
)
logits = session.run(None, {{k: v for k, v in batch.items() if k in names}})[0]
"""

IMAGE_SNIPPET = """\
import json

import numpy as np
import onnxruntime as ort
from PIL import Image
from transformers import AutoImageProcessor

processor = AutoImageProcessor.from_pretrained(".")
session = ort.InferenceSession("{file}")
image = Image.open("your-image.png").convert("RGB")
pixels = processor(images=[image], return_tensors="np")["pixel_values"]
logits = session.run(None, {{"pixel_values": pixels}})[0]
"""

SINGLE_LABEL = """\
config = json.load(open("config.json"))
labels = config["id2label"]
print(labels[str(int(np.argmax(logits[0])))])
"""

# as `finetune predict` decides (finetune_core/predict): above the threshold, strictly
MULTI_LABEL = """\
config = json.load(open("config.json"))
labels = config["id2label"]
# multi-label: each label whose probability is above its threshold (the tuned ones stored
# in config.json when there are, else the run's threshold)
thresholds = config.get("{key}") or {{}}
probs = 1 / (1 + np.exp(-logits[0]))
on = [p > thresholds.get(labels[str(i)], {default}) for i, p in enumerate(probs)]
print([labels[str(i)] for i, yes in enumerate(on) if yes])
"""


def readme(result, float_file: str, int8_file: str, rule=None, max_length: int = 512) -> str:
    """README.md of the exported folder: the figures and a snippet to run it; `rule` (the
    run's predict.Thresholds) makes a multi-label snippet apply the stored thresholds."""
    from finetune_core.predict import THRESHOLDS_KEY

    head = IMAGE_SNIPPET if result.task == "image" else TEXT_SNIPPET
    tail = SINGLE_LABEL
    if rule is not None and rule.multi_label:
        tail = MULTI_LABEL.format(key=THRESHOLDS_KEY, default=rule.default)
    snippet = head.format(file=float_file, max_length=max_length) + tail
    int8 = any(v.file == int8_file for v in result.variants)
    lines = [
        "# ONNX export",
        "",
        "Exported by `finetune export --format onnx` (torch.onnx, dynamo exporter) from the "
        "PyTorch model in `../model`.",
        "",
        result.summary("this folder"),
        "",
        "```",
        *result.table(),
        "```",
        "",
        "## Use it",
        "",
        "`pip install onnxruntime transformers`, then, in this folder:",
        "",
        "```python",
        snippet.rstrip(),
        "```",
        "",
    ]
    if int8:
        lines += [
            f"`{int8_file}` is the same model with int8 weights (dynamic quantization): "
            "smaller and usually faster on CPU; load it the same way.",
            "",
        ]
    return "\n".join(lines)
