"""Export a run's model to ONNX, checked against PyTorch on the run's evaluation set.

    finetune export runs/20261201-101500-bert --format onnx --quantize int8

Writes RUN_DIR/onnx/: model.onnx (float32), model_int8.onnx (dynamic int8 weights, with
--quantize int8), the model's config.json (labels) and tokenizer or image processor, export.json
(the figures below) and a README.md with an onnxruntime snippet.

Exporter: torch.onnx's dynamo exporter. Its graph matched PyTorch to ~1e-8 on padded text
batches here, while the TorchScript exporter traced BERT's padding branch for one shape and
was off by 1.7e-2 on another (measured on torch 2.13). The float model must match PyTorch's
logits within TOLERANCE on every checked example, else nothing is kept; the int8 model is
reported beside it (size, accuracy, agreement with PyTorch), since quantizing changes the
logits by design.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from finetune_core.errors import RunError
from finetune_core.host import extras
from finetune_core.runs import RunDir

TOLERANCE = 1e-4  # max |logit difference| between the float ONNX model and PyTorch
MAX_EXAMPLES = 1000  # evaluation examples checked by default (the first ones of the split)
QUANTIZE = ("int8",)
FLOAT_FILE, INT8_FILE, REPORT_FILE = "model.onnx", "model_int8.onnx", "export.json"
_LOCK = threading.Lock()


@dataclass
class Variant:
    """One exported file and how it compares with the PyTorch model."""

    name: str  # "float32" or "int8"
    file: str
    size_bytes: int
    max_abs_diff: float  # largest |logit difference| against PyTorch over the checked examples
    agreement: float  # share of examples where it predicts the same class as PyTorch
    accuracy: float | None  # against the labels (None when the labels are not single classes)


@dataclass
class OnnxExport:
    folder: Path
    task: str
    examples: int  # checked
    eval_examples: int  # in the evaluation split
    tolerance: float
    pytorch_accuracy: float | None
    pytorch_size_bytes: int
    variants: list[Variant] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data

    def table(self) -> list[str]:
        """The figures as aligned text lines (the CLI prints them, the page shows them)."""

        # lazy: onnx.py needs the hub for this only
        from finetune_core.hub.model_cards import size_text

        def _size(n: int) -> str:
            return size_text(n, base=1024)  # the files' sizes, in binary steps

        def acc(value):
            return "n/a" if value is None else f"{value:.4f}"

        rows = [("pytorch", _size(self.pytorch_size_bytes), "", "", acc(self.pytorch_accuracy))]
        rows += [
            (
                v.name,
                _size(v.size_bytes),
                f"{v.max_abs_diff:.1e}",
                f"{v.agreement:.1%}",
                acc(v.accuracy),
            )
            for v in self.variants
        ]
        head = ("model", "size", "max |diff|", "same class", "accuracy")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
        return [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [head, *rows]
        ]

    def summary(self, where: str | None = None) -> str:
        return (
            f"ONNX export in {where or self.folder}: checked on {self.examples} of "
            f"{self.eval_examples} evaluation examples; the float32 model matches PyTorch "
            f"within {self.tolerance:g} (max |logit difference|)."
        )


def export_onnx(
    run_dir: str | Path,
    *,
    quantize: str | None = None,
    token: str | None = None,
    max_examples: int | None = MAX_EXAMPLES,
) -> OnnxExport:
    """Export RUN_DIR/model to RUN_DIR/onnx and check it on the evaluation set."""
    run = RunDir(run_dir)
    if quantize is not None and quantize not in QUANTIZE:
        raise RunError(f"quantize must be one of {', '.join(QUANTIZE)}, not '{quantize}'.")
    if max_examples is not None and max_examples < 1:
        raise RunError(f"max_examples must be at least 1 (or empty for all), not {max_examples}.")
    if not run.has_model():
        raise RunError("This run has no saved model yet; wait for it to finish or stop it.")
    extras.require_export()
    from finetune_core.export.onnx_check import EvalSet, load_model

    model, processor, task = load_model(run.model_dir)
    evalset = EvalSet.load(run, processor, task, token=token, max_examples=max_examples)
    with _LOCK:  # one export at a time in this process (two tabs, one run folder)
        return _export_checked(run, model, processor, task, evalset, quantize)


def _export_checked(run: RunDir, model, processor, task: str, evalset, quantize) -> OnnxExport:
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-tmp-", dir=run.path))
    try:
        reference = evalset.logits_torch(model)
        _export(model, evalset.sample(), tmp / FLOAT_FILE)
        result = OnnxExport(
            folder=run.onnx_dir,
            task=task,
            examples=len(evalset),
            eval_examples=evalset.total,
            tolerance=TOLERANCE,
            pytorch_accuracy=evalset.accuracy(reference),
            pytorch_size_bytes=_weights_size(run.model_dir),
        )
        result.variants.append(_compare("float32", tmp / FLOAT_FILE, evalset, reference))
        worst = result.variants[0].max_abs_diff
        if not worst <= TOLERANCE:
            raise RunError(
                f"The ONNX model's outputs differ from PyTorch's by up to {worst:.1e} on the "
                f"evaluation set (tolerance {TOLERANCE:g}); it was not kept."
            )
        if quantize == "int8":
            _quantize(tmp / FLOAT_FILE, tmp / INT8_FILE)
            result.variants.append(_compare("int8", tmp / INT8_FILE, evalset, reference))
        _save_companions(run, processor, tmp, result)
        shutil.rmtree(run.onnx_dir, ignore_errors=True)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the other run folders are not
        os.replace(tmp, run.onnx_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _export(model, sample: dict, path: Path) -> None:
    import torch
    from torch.export import Dim

    names = list(sample)
    dims = {0: Dim("batch")} if "pixel_values" in sample else {0: Dim("batch"), 1: Dim("sequence")}
    onnx_log = logging.getLogger("torch.onnx")  # notes such as "torchvision is not installed"
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", (UserWarning, FutureWarning))
            torch.onnx.export(
                model,
                (),
                str(path),
                kwargs={k: torch.as_tensor(v) for k, v in sample.items()},
                input_names=names,
                output_names=["logits"],
                dynamic_shapes={k: dims for k in names},
                dynamo=True,
                external_data=_weights_size_of(model) > 1_800_000_000,  # protobuf's 2 GB limit
                verbose=False,
            )
    finally:
        onnx_log.setLevel(level)


def _quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 weights (no calibration data needed); activations stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    hint = _DropHint()  # onnxruntime logs a pre-processing tip on the root logger every time
    root.addFilter(hint)
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            use_external_data_format=src.with_name(src.name + ".data").exists(),  # > 2 GB
        )
    finally:
        root.removeFilter(hint)


class _DropHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing")


def _compare(name: str, path: Path, evalset, reference) -> Variant:
    import numpy as np

    logits = evalset.logits_onnx(path)
    return Variant(
        name=name,
        file=path.name,
        size_bytes=sum(p.stat().st_size for p in path.parent.glob(path.name + "*")),
        max_abs_diff=float(np.abs(logits - reference).max()),
        agreement=float((logits.argmax(-1) == reference.argmax(-1)).mean()),
        accuracy=evalset.accuracy(logits),
    )


def _save_companions(run: RunDir, processor, folder: Path, result: OnnxExport) -> None:
    from finetune_core.export.onnx_check import readme
    from finetune_core.predict import thresholds

    shutil.copy2(run.model_dir / "config.json", folder / "config.json")  # labels, thresholds
    processor.save_pretrained(str(folder))
    (folder / REPORT_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    rule = thresholds(run.path)  # multi-label: the snippet applies the stored thresholds
    max_length = (run.read_config() or {}).get("max_length") or 512  # as the run tokenized
    text = readme(result, FLOAT_FILE, INT8_FILE, rule, max_length)
    (folder / "README.md").write_text(text, encoding="utf-8")


def _weights_size(model_dir: Path) -> int:
    return sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))


def _weights_size_of(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())
