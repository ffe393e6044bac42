"""Run one fine-tuning job into a run directory.

    finetune train --config run.yaml                      # one device (GPU, MPS or CPU)
    torchrun --standalone --nproc_per_node 2 -m finetune_core train --config run.yaml
    accelerate launch --multi_gpu --num_processes 2 -m finetune_core train --config run.yaml

Flow: data (load, detect columns, encode labels, eval split) -> model with a new N-class head
-> freeze plan -> transformers.Trainer with RunDirCallback -> eval.json and model/. Every
write goes through the run's RunWriter (a no-op off the main process), which also ends the run:
its final status and the end line together. Failures leave status "failed" with one sentence.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from finetune_core import freeze_plan
from finetune_core import model as model_mod
from finetune_core.config import ResolvedRun, RunConfig, learning_rate_for
from finetune_core.data import prepare
from finetune_core.errors import FinetuneError, RunError, redact
from finetune_core.hub.net import resolve_token
from finetune_core.runs import RunDir, RunWriter, phases, read_metrics, records
from finetune_core.train import (
    arguments,
    budget,
    checkpoint_push,
    failures,
    final,
    lr_search,
    quality,
    trackers,
)
from finetune_core.train import device as device_mod
from finetune_core.train.cache import attach as feature_cache
from finetune_core.train.callbacks import RunDirCallback
from finetune_core.train.failures import failure_message
from finetune_core.train.model_card import write_model_card
from finetune_core.train.setup import (
    agree,
    init_distributed,
    prepare_run_dir,
    resume_config,
    world,
)


class Stopped(Exception):
    """A stop was requested before training started."""


@dataclass
class RunResult:
    run_dir: Path
    state: str
    metrics: dict[str, Any] | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # training health (status.json too)


@dataclass
class RunContext:
    """What every step of one run needs. `cfg` is replaced (never changed) once the run has
    detected its columns, labels and learning rate."""

    cfg: RunConfig
    writer: RunWriter
    token: str | None = None
    resume: bool = False
    stop_event: threading.Event | None = None
    on_progress: Callable[[int, int, float | None], None] | None = None

    @property
    def run_dir(self) -> RunDir:
        return self.writer.run

    def check_stop(self) -> None:
        if (self.stop_event and self.stop_event.is_set()) or self.run_dir.stop_requested():
            raise Stopped


@dataclass
class Loaded:
    """The data and model of a run, ready for the Trainer."""

    prepared: Any
    model: Any
    frozen: list[str]
    summary: Any
    task: str
    hooks: Any = None  # train/quality.py: health, class weights, best model, lr search


def run(
    cfg: RunConfig | None,
    *,
    stop_event: threading.Event | None = None,
    token: str | None = None,
    resume_dir: str | Path | None = None,
    on_progress=None,
    on_phase=None,
    run_dir: RunDir | None = None,
    release_memory: bool = True,
) -> RunResult:
    """Train `cfg` (or resume `resume_dir`) into its run dir. Raises FinetuneError.

    run_dir: a folder a job created with status "queued" (jobs/); the run starts there.
    on_progress(step, max_steps, epoch) after each optimizer step; on_phase(name, done, total)
    as the run moves through loading, caching, training, evaluation and saving (runs/phases.py).

    release_memory: collect the run's objects (and empty the CUDA cache) when it ends, so a
    long-lived process such as the dashboard gets the memory back for its next run. A process
    that exits right after (the CLI) passes False: the full garbage collection costs 0.3-0.5 s
    with transformers loaded (measured in bench/overhead.py) and frees nothing useful there.
    """
    init_distributed()
    resume = resume_dir is not None
    if resume:
        cfg, run_dir = resume_config(Path(resume_dir))
        writer = RunWriter(run_dir, on_phase=on_phase)
    elif run_dir is not None:
        run_dir = prepare_run_dir(cfg, False, queued=run_dir)
        writer = RunWriter(run_dir, on_phase=on_phase)
    else:
        run_dir = prepare_run_dir(cfg, False)
        cfg = replace(cfg, output_dir=str(run_dir.path))
        writer = RunWriter(run_dir, on_phase=on_phase)
        writer.queue(cfg.to_dict())  # the request: a run that fails while loading can resume
    writer.start(step=run_dir.checkpoint_step())
    trainer = None
    ctx = RunContext(cfg, writer, token, resume, stop_event, on_progress)
    try:
        trainer, result = _train(ctx)
        return result
    except Stopped:
        writer.finish("stopped", run_dir.stop_reason())  # a host's limit says which
        return RunResult(run_dir.path, "stopped")
    except BaseException as exc:
        message = redact(failure_message(exc), token)
        writer.fail(message, exc, token)
        exc.__traceback__ = None  # drop the frames that hold the model, so memory is freed
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, FinetuneError):
            raise exc if str(exc) == message else type(exc)(message) from None
        raise RunError(message) from None
    finally:
        writer.close()
        del trainer
        if release_memory:
            failures.release_memory()


def _load(ctx: RunContext, device: str) -> Loaded:
    """Data, then the model with its new head (all of it trainable until _plan)."""
    from transformers import set_seed

    cfg = ctx.cfg
    set_seed(cfg.seed)
    ctx.writer.phase(phases.LOADING_DATA)
    prepared = prepare.prepare(cfg, token=ctx.token)
    ctx.check_stop()
    ctx.writer.phase(phases.LOADING_MODEL)
    hf_config = model_mod.load_config(cfg.model, ctx.token)
    task = model_mod.infer_task(hf_config, prepared.columns.task)
    prepare.check_max_length(cfg.max_length, hf_config, task, cfg.model)
    set_seed(cfg.seed)  # the new head's initial weights depend only on the seed
    model = model_mod.load_model(
        cfg.model,
        len(prepared.label_names),
        task=task,
        label_names=prepared.label_names,
        token=ctx.token,
    )
    hooks = quality.for_run(cfg, ctx.writer, prepared)  # before: lr null?
    model.config.problem_type = f"{hooks.problem_type}_classification"  # pipelines read it
    return Loaded(prepared, model, [], None, task, hooks)


def _plan(ctx: RunContext, loaded: Loaded, collator, device: str) -> None:
    """The freeze plan (auto: measured, train/budget.py), applied, and the resolved config
    (written to config.json once the learning rate is decided too); the sizes to status.json."""
    cfg, prepared, model = ctx.cfg, loaded.prepared, loaded.model
    groups = model_mod.layer_groups(model)
    plan = None
    if cfg.freeze == "auto" and not cfg.freeze_plan:
        ctx.writer.phase(phases.PLANNING)
        plan = budget.plan(
            model,
            groups,
            prepared,
            collator,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            device=model.device,
            requested_budget=cfg.time_budget,
            cached=cfg.feature_cache and world()[1] == 1,
            processes=world()[1],
            seed=cfg.seed,
        )
    plan = agree(plan) or freeze_plan.plan_for_run(cfg, groups, ctx.token)
    if cfg.freeze == "auto":
        ctx.writer.say(f"freeze plan: {plan.reason}")
    model_mod.apply_freeze(model, plan.frozen)
    summary = model_mod.summarize(model, cfg.model, loaded.task, plan.frozen)
    loaded.frozen, loaded.summary = list(plan.frozen), summary
    trains_blocks = any(g.kind == "block" and g.name not in set(plan.frozen) for g in groups)
    # a search costs seconds for a head, a few epochs' worth for transformer blocks
    loaded.hooks.search_lr = loaded.hooks.search_lr and not trains_blocks
    ctx.cfg = cfg.resolved(resolve(cfg, prepared, summary, plan.frozen, trains_blocks))
    ctx.cfg = replace(ctx.cfg, freeze_plan=plan.to_dict(), problem_type=loaded.hooks.problem_type)
    # data left out or doubtful (skipped images, near-duplicate labels): in the same write
    data_warnings = {"warnings": list(prepared.warnings)} if prepared.warnings else {}
    ctx.writer.note(
        trainable_params=summary.trainable_params,
        total_params=summary.total_params,
        device=device,
        eval_source=prepared.eval_source,
        report_source=prepared.report_source,
        train_rows=len(prepared.train),
        samples_per_step=cfg.batch_size * world()[1],
        eval_rows=len(prepared.eval),
        report_rows=len(prepared.report),
        freeze_plan=plan.to_dict(),
        **data_warnings,
    )


def _train(ctx: RunContext):
    from transformers import PrinterCallback

    from finetune_core.train.trainer import FinetuneTrainer

    cfg, run_dir, writer = ctx.cfg, ctx.run_dir, ctx.writer
    pusher = checkpoint_push.for_run(cfg, writer, ctx.token)  # no token: refused now
    trackers.check(cfg.report_to)  # a chosen tracker that is not installed: refused now
    device = device_mod.pick_device(cfg.device)
    loaded = _load(ctx, device)
    prepared, task, hooks = loaded.prepared, loaded.task, loaded.hooks
    ctx.check_stop()
    writer.phase(phases.PREPARING)
    config = loaded.model.config
    processor, collator = _preprocess(cfg, prepared, task, device, ctx.token, config)
    ctx.check_stop()
    _plan(ctx, loaded, collator, device)
    cfg = ctx.cfg
    ctx.check_stop()

    callback = RunDirCallback(
        writer,
        stop_event=ctx.stop_event,
        time_offset=records.elapsed(read_metrics(run_dir.path)),
        on_progress=ctx.on_progress,
    )
    trainer = FinetuneTrainer(
        model=loaded.model,
        args=arguments.training_args(cfg, run_dir, device, task),
        train_dataset=prepared.train,
        eval_dataset=prepared.eval,
        data_collator=collator,
        processing_class=processor,
        compute_metrics=hooks.compute_metrics,
        callbacks=([callback, pusher] if pusher else [callback])
        + hooks.callbacks
        + trackers.callbacks(cfg.report_to, run_dir),
        **hooks.trainer_kwargs,
    )
    checkpoint = run_dir.last_checkpoint() if ctx.resume else None
    if checkpoint:
        writer.resume_from(run_dir.checkpoint_step(checkpoint))
    trainer.remove_callback(PrinterCallback)  # our callback reports; no dict dumps on stdout
    try:
        with feature_cache.attached(
            trainer,
            cfg,
            loaded.frozen,
            world_size=world()[1],
            writer=writer,
            check_stop=ctx.check_stop,
            extra={"report": prepared.report},
        ) as attachment:
            ctx.cfg = lr_search.run_for(ctx.cfg, trainer, attachment, writer, hooks)
            # config.json, once: the plan (timed before the Trainer) and the learning rate
            # (the rule, or the search on the cached features) are decided
            writer.resolved(ctx.cfg.to_dict())
            writer.phase(phases.TRAINING)
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
            return _finish(ctx, trainer, callback, loaded, attachment)
    finally:
        trackers.close(cfg.report_to)


def _finish(ctx: RunContext, trainer, callback: RunDirCallback, loaded: Loaded, attachment):
    run_dir, writer, prepared = ctx.run_dir, ctx.writer, loaded.prepared

    if callback.diverged_at is not None:
        raise RunError(
            f"Training diverged: the loss became {callback.diverged_value} at step "
            f"{callback.diverged_at}; lower the learning rate or freeze more layers "
            "(the last good checkpoint is kept)."
        )
    state = "stopped" if callback.stopped else "completed"
    # a stopped run is evaluated too (the kept model: keep_best's best weights are back), so
    # Results, the Runs list and the downloaded model show the same numbers for it
    writer.phase(phases.EVALUATING)
    report_rows = attachment.rows("report", prepared.report)
    metrics = final.evaluate(trainer, prepared, report_rows, writer, loaded.hooks, ctx.cfg.seed)
    writer.phase(phases.SAVING)
    if writer.main:
        trainer.save_model(str(run_dir.model_dir))
        _record_num_labels(run_dir.model_dir, len(prepared.label_names))
        card = {"eval_split": prepared.report_source, "token": ctx.token}  # token: license lookup
        write_model_card(run_dir.model_dir, ctx.cfg, loaded.summary, metrics, state, **card)
    why = run_dir.stop_reason() if state == "stopped" else None  # a limit's sentence
    writer.finish(state, why, step=trainer.state.global_step, seconds=callback.elapsed())
    return trainer, RunResult(run_dir.path, state, metrics, warnings=loaded.hooks.warnings)


def resolve(
    cfg: RunConfig, prepared, summary, frozen=(), trains_blocks: bool = False
) -> ResolvedRun:
    """What this run detected, so config.json reproduces it exactly."""
    return ResolvedRun(
        text_column=prepared.columns.text,
        image_column=prepared.columns.image,
        label_column=prepared.columns.label,
        label_names=tuple(prepared.label_names),
        task=summary.task,
        learning_rate=learning_rate_for(
            cfg.learning_rate, summary.trainable_share, trains_blocks=trains_blocks
        ),
        frozen_groups=tuple(frozen),
        trainable_share=summary.trainable_share,
    )


def _preprocess(cfg, prepared, task, device, token, config):
    from transformers import DataCollatorWithPadding, default_data_collator

    from finetune_core.model.processor import load_processor  # bounded: size, deadline

    processor = load_processor(cfg.model, task, config, resolve_token(token))
    if task == model_mod.IMAGE:
        prepare.attach_image_transform(prepared, processor)
        return processor, default_data_collator
    prepare.tokenize(prepared, processor, cfg.max_length)
    multiple = 8 if device == "cuda" else None
    return processor, DataCollatorWithPadding(processor, pad_to_multiple_of=multiple)


def _record_num_labels(model_dir: Path, n: int) -> None:
    """transformers 5 derives num_labels from id2label and no longer writes it; the run-dir
    contract (and older readers) expect it in model/config.json, so it is added back."""
    path = model_dir / "config.json"
    data = json.loads(path.read_text())
    if data.get("num_labels") != n:
        data["num_labels"] = n
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
