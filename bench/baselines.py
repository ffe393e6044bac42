"""The workloads the benchmarks compare, each run in its own subprocess (see common.run_child).

A workload is a dict `spec`: model (folder), data (CSV), max_length, batch_size, epochs, lr,
seed, freeze ("none" | "backbone" | "demo" = head + pooler | "last2" = the last two blocks,
pooler and head train), max_train_samples, device, threads, save_steps, logging_steps,
feature_cache, group_by_length (the project's; the plain script samples at random), out (a
scratch folder).

- project: `finetune train --config FILE --quiet` (cli.main, which calls train.run);
- plain:   a plain transformers.Trainer script, written here from the library's docs: same
           data split and tokenization, model, freeze plan (frozen modules kept in eval mode,
           as the project does), TrainingArguments, evaluation each epoch, checkpoints, and a
           final evaluate + save_model, as a typical fine-tuning script ends;
- raw:     a minimal PyTorch loop (AdamW, linear decay, grad clipping, eval each epoch; no
           checkpoints, logging or saving): the floor;
- forward: one inference pass of the model over train + eval (the cost of "one epoch of
           frozen features").
Each returns timings; common.child_main adds peak RSS (and CUDA peak memory).
"""

from __future__ import annotations

import re
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import common

DEFAULTS: dict[str, Any] = {
    "max_length": 64,
    "batch_size": 16,
    "epochs": 1,
    "lr": 1e-3,
    "seed": 42,
    "freeze": "demo",
    "max_train_samples": None,
    "device": "cpu",
    "threads": 1,
    "save_steps": 50,
    "logging_steps": 5,
    "feature_cache": False,
    "group_by_length": True,
}


def spec_of(**kw: Any) -> dict[str, Any]:
    return {**DEFAULTS, **kw}


def _start(spec: dict[str, Any]):
    """Threads, then the libraries every variant uses, imported and warmed up outside the
    timed part (each variant is a fresh process: lazy imports would otherwise land in one
    variant's timing and not another's)."""
    common.setup_env(spec["threads"])
    import datasets  # noqa: F401
    import torch
    from transformers import Trainer  # noqa: F401  (imports accelerate, optimizers, ...)

    torch.set_num_threads(spec["threads"])
    common.quiet_libraries()
    warm = torch.nn.Linear(2, 2).to(spec["device"])
    opt = torch.optim.AdamW(warm.parameters())
    warm(torch.ones(1, 2, device=spec["device"])).sum().backward()
    opt.step()
    return torch


# ---- the project ----------------------------------------------------------------------
def project(**spec: Any) -> dict[str, Any]:
    """`finetune train --config FILE --quiet`, in this process (cli.main)."""
    _start(spec)
    import resource

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import transformers

    from finetune_core import runs
    from finetune_core.cli import commands as cli
    from finetune_core.config import RunConfig

    timing: dict[str, float] = {}
    original = transformers.Trainer.train

    def timed_train(self, *args, **kwargs):
        started = common.clock()
        try:
            return original(self, *args, **kwargs)
        finally:
            timing["train_s"], timing["train_cpu_s"] = common.since(started)

    transformers.Trainer.train = timed_train
    freeze = spec["freeze"]
    if freeze == "demo":
        freeze = common.demo_freeze(spec["model"])
    elif freeze == "last2":
        freeze = common.demo_freeze(spec["model"])[:-2]
    out = Path(tempfile.mkdtemp(prefix="project-", dir=spec["out"]))
    cfg = RunConfig.from_dict(
        {
            "model": spec["model"],
            "dataset": spec["data"],
            "freeze": freeze,
            "epochs": spec["epochs"],
            "learning_rate": spec["lr"],
            "batch_size": spec["batch_size"],
            "max_length": spec["max_length"],
            "seed": spec["seed"],
            "max_train_samples": spec["max_train_samples"],
            "save_steps": spec["save_steps"],
            "logging_steps": spec["logging_steps"],
            "device": spec["device"],
            "feature_cache": spec["feature_cache"],
            "group_by_length": spec["group_by_length"],
            "output_dir": str(out / "run"),
        }
    )
    config = out / "run.json"
    cfg.save(config)
    started = common.clock()
    code = cli.main(["train", "--config", str(config), "--quiet"])
    wall, cpu = common.since(started)
    if code != 0:
        raise RuntimeError(f"finetune train exited {code}")
    out = out / "run"
    status = runs.read_json(out / "status.json") or {}
    evals = [r for r in runs.read_metrics(out) if "eval_loss" in r]
    note = status.get("feature_cache") or ""
    built = re.search(r"built in ([0-9.]+) s", note)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "train_s": timing.get("train_s"),
        "train_cpu_s": timing.get("train_cpu_s"),
        "rss_before_mb": rss_before,
        "trainable_params": status.get("trainable_params"),
        "train_rows": status.get("train_rows"),
        "epoch_end_s": [r["time"] for r in evals[: int(spec["epochs"])]],
        "cache": note,
        "cache_build_s": float(built.group(1)) if built else None,
        "accuracy": (runs.read_json(out / "eval.json") or {}).get("accuracy"),
        "eval_loss": evals[-1]["eval_loss"] if evals else None,
    }


# ---- the plain Trainer script ---------------------------------------------------------
def prepare_data(spec: dict[str, Any]):
    """CSV -> label ids (sorted names) -> stratified 10% hold-out -> subset -> tokens."""
    import datasets
    from transformers import AutoTokenizer

    ds = datasets.load_dataset("csv", data_files={"train": spec["data"]})["train"]
    ds = ds.select_columns(["text", "label"])
    names = sorted(set(ds["label"]))
    ds = ds.cast_column("label", datasets.ClassLabel(names=names))
    parts = ds.train_test_split(test_size=0.1, seed=spec["seed"], stratify_by_column="label")
    train, evals = parts["train"], parts["test"]
    if spec["max_train_samples"]:
        n = min(len(train), spec["max_train_samples"])
        train = train.shuffle(seed=spec["seed"]).select(range(n))
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])

    def encode(batch):
        out = tokenizer(batch["text"], truncation=True, max_length=spec["max_length"])
        out["labels"] = batch["label"]
        return out

    train = train.map(encode, batched=True, remove_columns=["text", "label"])
    evals = evals.map(encode, batched=True, remove_columns=["text", "label"])
    return train, evals, tokenizer, names


def load_model(spec: dict[str, Any], names: list[str]):
    """Pretrained model, new head, frozen modules without gradients and kept in eval mode."""
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(spec["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(
        spec["model"],
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        ignore_mismatched_sizes=True,
    )
    prefixes = {
        "none": [],
        "backbone": [model.base_model_prefix],
        "demo": common.demo_freeze(spec["model"]),
        "last2": common.demo_freeze(spec["model"])[:-2],
    }[spec["freeze"]]
    for name, param in model.named_parameters():
        if any(name.startswith(p + ".") for p in prefixes):
            param.requires_grad_(False)
    for prefix in prefixes:
        module = model.get_submodule(prefix)
        module.eval()
        module.train = types.MethodType(lambda self, mode=True: self, module)
    return model


def accuracy_f1(eval_pred) -> dict[str, float]:
    import numpy as np

    logits, labels = eval_pred
    preds = np.asarray(logits).argmax(-1)
    f1s = []
    for c in np.unique(labels):
        tp = np.sum((preds == c) & (labels == c))
        denom = np.sum(preds == c) + np.sum(labels == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return {"accuracy": float(np.mean(preds == labels)), "f1_macro": float(np.mean(f1s))}


def plain(**spec: Any) -> dict[str, Any]:
    torch = _start(spec)
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    started = common.clock()
    set_seed(spec["seed"])
    train, evals, tokenizer, names = prepare_data(spec)
    model = load_model(spec, names)
    cuda = spec["device"] == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="plain-", dir=spec["out"]),
        num_train_epochs=spec["epochs"],
        learning_rate=spec["lr"],
        per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=spec["batch_size"] * 2,
        seed=spec["seed"],
        eval_strategy="epoch",
        save_strategy="steps",
        save_steps=spec["save_steps"],
        save_total_limit=2,
        logging_steps=spec["logging_steps"],
        report_to="none",
        disable_tqdm=True,
        use_cpu=not cuda,
        dataloader_pin_memory=cuda,
        bf16=bf16,
        fp16=cuda and not bf16,
    )
    epoch_end: list[float] = []

    class EpochClock(TrainerCallback):  # same clock as the project's metrics.jsonl "time"
        def __init__(self):
            self.start = time.perf_counter()

        def on_evaluate(self, args, state, control, **kwargs):
            epoch_end.append(time.perf_counter() - self.start)

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evals,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy_f1,
        callbacks=[EpochClock()],
    )
    t0 = common.clock()
    trainer.train()
    train_s, train_cpu_s = common.since(t0)
    final = trainer.evaluate()
    trainer.save_model(str(Path(args.output_dir) / "model"))
    wall, cpu = common.since(started)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "train_s": train_s,
        "train_cpu_s": train_cpu_s,
        "train_rows": len(train),
        "epoch_end_s": epoch_end[: int(spec["epochs"])],
        "accuracy": final["eval_accuracy"],
        "eval_loss": final["eval_loss"],
    }


# ---- the raw PyTorch loop -------------------------------------------------------------
def raw(**spec: Any) -> dict[str, Any]:
    torch = _start(spec)
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, set_seed

    started = common.clock()
    set_seed(spec["seed"])
    train, evals, tokenizer, names = prepare_data(spec)
    model = load_model(spec, names)
    device = torch.device(spec["device"])
    model.to(device)
    collate = DataCollatorWithPadding(tokenizer)
    gen = torch.Generator().manual_seed(spec["seed"])
    loader = DataLoader(
        train, batch_size=spec["batch_size"], shuffle=True, collate_fn=collate, generator=gen
    )
    eval_loader = DataLoader(evals, batch_size=spec["batch_size"] * 2, collate_fn=collate)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["lr"], weight_decay=0.0)
    total = len(loader) * int(spec["epochs"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: max(0.0, 1 - step / total))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    t0 = common.clock()
    epoch_end, acc = [], None
    for _ in range(int(spec["epochs"])):
        model.train()
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast:
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        model.eval()
        correct = seen = 0
        with torch.inference_mode(), autocast:
            for batch in eval_loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                pred = model(**batch).logits.argmax(-1)
                correct += int((pred == batch["labels"]).sum())
                seen += len(pred)
        acc = correct / seen
        epoch_end.append(time.perf_counter() - t0[0])
    train_s, train_cpu_s = common.since(t0)
    wall, cpu = common.since(started)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "train_s": train_s,
        "train_cpu_s": train_cpu_s,
        "train_rows": len(train),
        "epoch_end_s": epoch_end,
        "accuracy": acc,
    }


# ---- one forward pass -----------------------------------------------------------------
def forward(**spec: Any) -> dict[str, Any]:
    """Inference over train + eval, as the feature cache's build does (eval mode, batches)."""
    torch = _start(spec)
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    train, evals, tokenizer, names = prepare_data(spec)
    model = load_model(spec, names).to(spec["device"]).eval()
    collate = DataCollatorWithPadding(tokenizer)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=spec["device"] == "cuda")
    t0 = time.perf_counter()
    with torch.inference_mode(), autocast:
        for ds in (train, evals):
            for batch in DataLoader(ds, batch_size=spec["batch_size"] * 2, collate_fn=collate):
                model(**{k: v.to(spec["device"]) for k, v in batch.items()})
    if spec["device"] == "cuda":
        torch.cuda.synchronize()
    return {"forward_s": time.perf_counter() - t0, "rows": len(train) + len(evals)}


VARIANTS = {"project": project, "plain": plain, "raw": raw, "forward": forward}
