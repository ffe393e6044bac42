"""The Trainer's arguments for a run: one place that maps the run's config, device and task
onto transformers' TrainingArguments (logging, saving, sampling, precision, workers)."""

from __future__ import annotations

import os

from finetune_core import model as model_mod
from finetune_core.config import RunConfig
from finetune_core.runs import RunDir
from finetune_core.train import device as device_mod
from finetune_core.train import trackers
from finetune_core.train.setup import world


def training_args(cfg: RunConfig, run_dir: RunDir, device: str, task: str):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(run_dir.checkpoints_dir),
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size * 2,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
        seed=cfg.seed,
        train_sampling_strategy=sampling(cfg, task),
        eval_strategy="epoch",
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # a NaN loss must show (and stop the run), not be hidden
        report_to="none",
        **trackers.training_args(cfg.report_to, run_dir),  # callbacks() adds the trackers
        disable_tqdm=True,
        use_cpu=device == "cpu",
        remove_unused_columns=task != model_mod.IMAGE,
        dataloader_pin_memory=device == "cuda",
        dataloader_num_workers=loader_workers(device, task),
        torch_compile=cfg.torch_compile,
        average_tokens_across_devices=False,  # else the logged loss is x world size
        ddp_find_unused_parameters=False,
        ddp_backend="gloo" if device == "cpu" and world()[1] > 1 else None,
        **device_mod.precision(device),
    )


def sampling(cfg: RunConfig, task: str) -> str:
    """Length-grouped training batches for text when asked (sampling.py); images are all
    the same size."""
    return "group_by_length" if cfg.group_by_length and task == model_mod.TEXT else "random"


def loader_workers(device: str, task: str) -> int:
    """Image decoding and processing can hide behind GPU compute in worker processes; on a CPU
    they would only take cores from the training itself, and tokenized text needs none."""
    if device != "cuda" or task != model_mod.IMAGE:
        return 0
    return min(4, max(0, (os.cpu_count() or 1) // 2))
