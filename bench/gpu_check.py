"""GPU check: the CUDA path end to end, and timings of a real-sized run on one GPU.

    python3 bench/gpu_check.py [--rows 4000] [--out DIR]

Run on a machine with a CUDA GPU (bench/gpu_check.sh brings the Python packages the device
image lacks). No download: the models are BERT-base-sized random checkpoints built here
(hidden 768, 12 layers) with the tests' tokenizer, and the data is the tests' synthetic
3-class text. Measures, in one process, in this order:
  1. a tiny run through `finetune_core.train.run.run` on device "auto": it must pick cuda and bf16;
  2. full fine-tune, one epoch: `finetune_core.train.run.run` vs a plain transformers.Trainer
     script doing the same work (the ratio is the project's overhead on a GPU);
  3. head-only, ten epochs, with the frozen-feature cache vs without.
Prints a table and writes gpu_check.json to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def make_base_model(path: Path) -> Path:
    import tiny
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(tiny.vocab())}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(tiny.vocab()),
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def project_run(model: Path, data: Path, out: Path, **cfg) -> dict:
    from finetune_core.config import RunConfig
    from finetune_core.train import run as train

    config = RunConfig.from_dict(
        {
            "model": str(model),
            "dataset": str(data),
            "output_dir": str(out),
            "logging_steps": 20,
            **cfg,
        }
    )
    start = time.perf_counter()
    result = train.run(config)
    wall = time.perf_counter() - start
    status = json.loads((out / "status.json").read_text())
    return {
        "wall_s": round(wall, 2),
        "state": result.state,
        "device": status.get("device"),
        "accuracy": (result.metrics or {}).get("accuracy"),
        "feature_cache": status.get("feature_cache"),
    }


def plain_run(model: Path, data: Path, out: Path, epochs: float, batch: int, lr: float) -> dict:
    """The same full fine-tune written as a plain Trainer script."""
    import datasets
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    start = time.perf_counter()
    set_seed(42)
    ds = datasets.load_dataset("csv", data_files=str(data))["train"].class_encode_column("label")
    ds = ds.train_test_split(test_size=0.1, seed=42, stratify_by_column="label")
    tok = AutoTokenizer.from_pretrained(model)
    ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=64), batched=True)
    m = AutoModelForSequenceClassification.from_pretrained(model, num_labels=3)
    args = TrainingArguments(
        str(out),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch * 2,
        learning_rate=lr,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        logging_steps=20,
        bf16=torch.cuda.is_available(),
        disable_tqdm=True,
        dataloader_pin_memory=True,
        average_tokens_across_devices=False,
    )
    trainer = Trainer(
        model=m,
        args=args,
        train_dataset=ds["train"],
        eval_dataset=ds["test"],
        data_collator=DataCollatorWithPadding(tok, pad_to_multiple_of=8),
    )
    trainer.train()
    pred = trainer.predict(ds["test"])
    acc = float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())
    m.save_pretrained(out / "model")
    return {"wall_s": round(time.perf_counter() - start, 2), "accuracy": acc}


def main() -> int:
    import tiny
    import torch
    import transformers

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--out", default="/tmp/gpu-check")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"cuda {torch.cuda.is_available()}, {torch.cuda.get_device_name(0)}",
        flush=True,
    )
    data = tiny.write_csv(out / "data.csv", tiny.text_rows(args.rows))
    small = tiny.make_bert(out / "tiny-bert")
    base = make_base_model(out / "bert-base-random")
    results: dict[str, dict] = {}
    results["tiny (CUDA path)"] = project_run(
        small, data, out / "r-tiny", epochs=1, batch_size=32, max_length=16
    )
    assert results["tiny (CUDA path)"]["device"] == "cuda", results
    # like for like: the plain script keeps no checkpoints, so neither does the project here
    full = {
        "epochs": 1,
        "batch_size": 32,
        "max_length": 64,
        "learning_rate": 3e-5,
        "freeze": "none",
        "save_steps": 10**6,
    }
    for i in range(2):  # alternate to even out warm-up
        results[f"full, project #{i + 1}"] = project_run(base, data, out / f"r-full-{i}", **full)
        results[f"full, plain Trainer #{i + 1}"] = plain_run(
            base, data, out / f"p-full-{i}", 1, 32, 3e-5
        )
    head = {
        "epochs": 10,
        "batch_size": 32,
        "max_length": 64,
        "learning_rate": 1e-3,
        "save_steps": 10**6,
    }
    results["head-only x10, cache"] = project_run(base, data, out / "r-head-c", **head)
    results["head-only x10, no cache"] = project_run(
        base, data, out / "r-head-n", **head, feature_cache=False
    )
    print(f"\n{'run':28} {'wall s':>8} {'accuracy':>9}  notes")
    for name, r in results.items():
        acc = r.get("accuracy")
        print(
            f"{name:28} {r['wall_s']:>8} {acc if acc is None else round(acc, 4)!s:>9}  "
            f"{r.get('feature_cache') or ''}"
        )
    proj = min(r["wall_s"] for k, r in results.items() if k.startswith("full, project"))
    plain = min(r["wall_s"] for k, r in results.items() if k.startswith("full, plain"))
    cache = results["head-only x10, cache"]["wall_s"] / results["head-only x10, no cache"]["wall_s"]
    summary = {"project_over_plain": round(proj / plain, 3), "cache_over_nocache": round(cache, 3)}
    print(json.dumps(summary))
    (out / "gpu_check.json").write_text(json.dumps({"results": results, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
