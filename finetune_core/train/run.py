"""Run one fine-tuning job into a run directory.

    finetune train --config run.yaml                      # one device (GPU, MPS or CPU)
    torchrun --standalone --nproc_per_node 2 -m finetune_core train --config run.yaml
    accelerate launch --multi_gpu --num_processes 2 -m finetune_core train --config run.yaml

Flow: data (load, detect columns, encode labels, eval split) -> model with a new N-class head
-> freeze plan -> transformers.Trainer with RunDirCallback -> eval.json and model/. Only the
main process writes the run dir. Failures leave status "failed" with one sentence.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_core import model as model_mod
from finetune_core.config import RunConfig
from finetune_core.data import prepare
from finetune_core.errors import FinetuneError, RunError
from finetune_core.runs import RunDir, default_run_dir, last_checkpoint, read_json, read_metrics
from finetune_core.train import checkpoint_push, failures, trackers
from finetune_core.train import device as device_mod
from finetune_core.train import phases as phases_mod
from finetune_core.train.cache import features as feature_cache
from finetune_core.train.callbacks import RunDirCallback
from finetune_core.train.evaluation import compute_metrics, report
from finetune_core.train.failures import failure_message, record_failure, redact
from finetune_core.train.model_card import write_model_card

HEAD_ONLY_LR, FULL_LR = 1e-3, 5e-5


class Stopped(Exception):
    """A stop was requested before training started."""


@dataclass
class RunResult:
    run_dir: Path
    state: str
    metrics: dict[str, Any] | None = None
    error: str | None = None


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _agree(value: Any) -> Any:
    """The main process's value, on every process (one process: unchanged)."""
    dist = _dist()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _init_distributed() -> None:
    if _world()[1] > 1 and _dist() is None:
        from accelerate import PartialState

        PartialState()  # joins the process group the launcher set up (gloo on CPU)


def prepare_run_dir(cfg: RunConfig, resume: bool) -> RunDir:
    """Main process picks and checks the folder; all processes get the same answer."""
    rank, _ = _world()
    answer: tuple[str | None, str | None] = (None, None)
    if rank == 0:
        try:
            path = Path(cfg.output_dir) if cfg.output_dir else default_run_dir(cfg.model)
            RunDir(path).create(resume=resume)
            answer = (str(path), None)
        except FinetuneError as exc:
            answer = (None, str(exc))
    path, error = _agree(answer)
    if error:
        raise RunError(error)
    return RunDir(path)


def run(
    cfg: RunConfig,
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

    on_progress(step, max_steps, epoch) after each optimizer step; on_phase(name, done, total)
    as the run moves through loading, caching, training, evaluation and saving (phases.py).

    release_memory: collect the run's objects (and empty the CUDA cache) when it ends, so a
    long-lived process such as the dashboard gets the memory back for its next run. A process
    that exits right after (the CLI) passes False: the full garbage collection costs 0.3-0.5 s
    with transformers loaded (measured in bench/overhead.py) and frees nothing useful there.
    """
    _init_distributed()
    is_main = _world()[0] == 0
    resume = resume_dir is not None
    if resume:
        cfg, run_dir = _resume_config(Path(resume_dir))
    run_dir = run_dir or prepare_run_dir(cfg, resume)
    if is_main:
        run_dir.stop_path.unlink(missing_ok=True)
        run_dir.write_status(state="running", error=None, step=_resume_step(run_dir))
        if not resume:
            cfg.output_dir = str(run_dir.path)
            run_dir.write_json(run_dir.config_path, cfg.to_dict())
    trainer = None
    phases = phases_mod.Phases(run_dir, is_main, on_phase)
    try:
        trainer, result = _train(cfg, run_dir, stop_event, token, resume, on_progress, phases)
        return result
    except Stopped:
        if is_main:
            run_dir.write_status(state="stopped", error=None, phase=None)
            run_dir.append_metrics({"event": "end", "state": "stopped"})
        return RunResult(run_dir.path, "stopped")
    except BaseException as exc:
        message = redact(failure_message(exc), token)
        if is_main:
            record_failure(run_dir, message, exc, token)
        exc.__traceback__ = None  # drop the frames that hold the model, so memory is freed
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, FinetuneError):
            raise exc if str(exc) == message else type(exc)(message) from None
        raise RunError(message) from None
    finally:
        del trainer
        if release_memory:
            failures.release_memory()


def _train(cfg, run_dir, stop_event, token, resume, on_progress, phases):
    from transformers import PrinterCallback, set_seed

    is_main = phases.is_main

    def check_stop():
        if (stop_event and stop_event.is_set()) or run_dir.stop_path.exists():
            raise Stopped

    pusher = checkpoint_push.for_run(cfg, run_dir, token, is_main)  # no token: refused now
    trackers.check(cfg.report_to)  # a chosen tracker that is not installed: refused now
    device = device_mod.pick_device(cfg.device)
    set_seed(cfg.seed)
    phases.set(phases_mod.LOADING_DATA)
    prepared = prepare.prepare(cfg, token=token)
    check_stop()
    phases.set(phases_mod.LOADING_MODEL)
    hf_config = model_mod.load_config(cfg.model, token)
    task = model_mod.infer_task(hf_config, prepared.columns.task)
    set_seed(cfg.seed)  # the new head's initial weights depend only on the seed
    model = model_mod.load_model(
        cfg.model,
        len(prepared.label_names),
        task=task,
        label_names=prepared.label_names,
        token=token,
    )
    groups = model_mod.layer_groups(model)
    frozen = model_mod.resolve_freeze(cfg.freeze, groups)
    model_mod.apply_freeze(model, frozen)
    summary = model_mod.summarize(model, cfg.model, task, frozen)
    _resolve(cfg, prepared, summary)
    if is_main:
        run_dir.write_json(run_dir.config_path, cfg.to_dict())
        run_dir.write_status(
            trainable_params=summary.trainable_params,
            total_params=summary.total_params,
            device=device,
            eval_source=prepared.eval_source,
            train_rows=len(prepared.train),
            samples_per_step=cfg.batch_size * _world()[1],
            eval_rows=len(prepared.eval),
        )
    cache, cache_note = feature_cache.plan(cfg, model, frozen, prepared, _world()[1])
    check_stop()
    phases.set(phases_mod.PREPARING)
    processor, collator = _preprocess(cfg, prepared, task, device, token)
    cache, cache_note = feature_cache.check_processor(cache, cache_note, processor)
    if is_main:
        run_dir.write_status(feature_cache=cache_note)
    check_stop()

    callback = RunDirCallback(
        run_dir,
        stop_event=stop_event,
        time_offset=_last_time(run_dir),
        on_progress=on_progress,
        is_main=is_main,
    )
    trainer = feature_cache.trainer_class(cache)(
        model=model,
        args=_training_args(cfg, run_dir, device, task, cached=cache is not None),
        train_dataset=prepared.train,
        eval_dataset=prepared.eval,
        data_collator=collator,
        processing_class=processor,
        compute_metrics=compute_metrics,
        callbacks=([callback, pusher] if pusher else [callback])
        + trackers.callbacks(cfg.report_to, run_dir),
    )
    checkpoint = last_checkpoint(run_dir.path) if resume else None
    if checkpoint and is_main:
        run_dir.truncate_metrics_after(int(checkpoint.name.split("-")[1]))
    trainer.remove_callback(PrinterCallback)  # our callback reports; no dict dumps on stdout
    try:
        if cache is not None:
            feature_cache.build_for_run(
                cache, cache_note, trainer, prepared, collator, cfg.batch_size, phases, check_stop
            )
        phases.set(phases_mod.TRAINING)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        return _finish(cfg, trainer, callback, prepared, run_dir, summary, phases, token)
    finally:
        trackers.close(cfg.report_to)
        if cache is not None:
            cache.deactivate()
            cache.close()


def _finish(cfg, trainer, callback, prepared, run_dir, summary, phases, token=None):
    is_main = phases.is_main

    if callback.diverged_at is not None:
        raise RunError(
            f"Training diverged: the loss became {callback.diverged_value} at step "
            f"{callback.diverged_at}; lower the learning rate or freeze more layers "
            "(the last good checkpoint is kept)."
        )
    state = "stopped" if callback.stopped else "completed"
    metrics = None
    if state == "completed":
        phases.set(phases_mod.EVALUATING)
        metrics = _final_eval(trainer, prepared, run_dir, is_main)
    phases.set(phases_mod.SAVING)
    if is_main:
        trainer.save_model(str(run_dir.model_dir))
        _record_num_labels(run_dir.model_dir, len(prepared.label_names))
        card = {"eval_split": prepared.eval_source, "token": token}  # token: license lookup
        write_model_card(run_dir.model_dir, cfg, summary, metrics, state, **card)
        run_dir.write_status(state=state, error=None, step=trainer.state.global_step, phase=None)
        run_dir.append_metrics({"event": "end", "state": state, "time": callback.elapsed()})
    return trainer, RunResult(run_dir.path, state, metrics)


def _resolve(cfg: RunConfig, prepared, summary) -> None:
    """Record what was detected, so config.json reproduces the run exactly."""
    cfg.text_column = prepared.columns.text
    cfg.image_column = prepared.columns.image
    cfg.label_column = prepared.columns.label
    cfg.num_labels = len(prepared.label_names)
    cfg.label_names = list(prepared.label_names)
    cfg.task = summary.task
    if cfg.learning_rate is None:
        cfg.learning_rate = HEAD_ONLY_LR if summary.trainable_share < 0.2 else FULL_LR


def _preprocess(cfg, prepared, task, device, token):
    from transformers import (
        AutoImageProcessor,
        AutoTokenizer,
        DataCollatorWithPadding,
        default_data_collator,
    )

    source = model_mod.local_path(cfg.model)
    try:
        if task == model_mod.IMAGE:
            processor = AutoImageProcessor.from_pretrained(source, token=token or None)
            prepare.attach_image_transform(prepared, processor)
            return processor, default_data_collator
        processor = AutoTokenizer.from_pretrained(source, token=token or None)
    except (OSError, ValueError) as exc:
        what = "image processor" if task == model_mod.IMAGE else "tokenizer"
        raise model_mod.ModelError(
            f"Model {cfg.model} has no usable {what} ({str(exc).splitlines()[0][:160]})."
        ) from exc
    prepare.tokenize(prepared, processor, cfg.max_length)
    multiple = 8 if device == "cuda" else None
    return processor, DataCollatorWithPadding(processor, pad_to_multiple_of=multiple)


def _training_args(cfg: RunConfig, run_dir: RunDir, device: str, task: str, cached: bool):
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
        remove_unused_columns=task != model_mod.IMAGE and not cached,
        dataloader_pin_memory=device == "cuda",
        dataloader_num_workers=_loader_workers(device, task),
        torch_compile=cfg.torch_compile,
        average_tokens_across_devices=False,  # else the logged loss is x world size
        ddp_find_unused_parameters=False,
        ddp_backend="gloo" if device == "cpu" and _world()[1] > 1 else None,
        **device_mod.precision(device),
    )


def _record_num_labels(model_dir: Path, n: int) -> None:
    """transformers 5 derives num_labels from id2label and no longer writes it; the run-dir
    contract (and older readers) expect it in model/config.json, so it is added back."""
    path = model_dir / "config.json"
    data = json.loads(path.read_text())
    if data.get("num_labels") != n:
        data["num_labels"] = n
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _loader_workers(device: str, task: str) -> int:
    """Image decoding and processing can hide behind GPU compute in worker processes; on a CPU
    they would only take cores from the training itself, and tokenized text needs none."""
    if device != "cuda" or task != model_mod.IMAGE:
        return 0
    return min(4, max(0, (os.cpu_count() or 1) // 2))


def _final_eval(trainer, prepared, run_dir: RunDir, is_main: bool) -> dict:
    output = trainer.predict(trainer.eval_dataset, metric_key_prefix="eval")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    last = [r for r in read_metrics(run_dir.path) if "eval_loss" in r] if is_main else []
    if not last or last[-1].get("step") != trainer.state.global_step:
        trainer.log({k: v for k, v in output.metrics.items() if k.startswith("eval_")})
    examples = prepared.eval_raw[prepared.columns.text] if prepared.columns.text else None
    result = report(logits, output.label_ids, prepared.label_names, examples=examples)
    if is_main:
        run_dir.write_json(run_dir.eval_path, result)
    return {"accuracy": result["accuracy"], "f1_macro": result["f1_macro"]}


def _resume_config(path: Path) -> tuple[RunConfig, RunDir]:
    """The saved config of a run folder (a resume always continues exactly what was started)."""
    run_dir = RunDir(path)
    saved = read_json(run_dir.config_path)
    if saved is None:
        raise RunError(f"{path} has no config.json; it is not a run folder that can be resumed.")
    status = read_json(run_dir.status_path) or {}
    if status.get("state") == "completed":
        raise RunError(f"Run {path} already completed; start a new run instead.")
    cfg = RunConfig.from_dict(saved)
    cfg.output_dir = str(path)
    return cfg, run_dir


def _resume_step(run_dir: RunDir) -> int:
    ckpt = last_checkpoint(run_dir.path)
    return int(ckpt.name.split("-")[1]) if ckpt else 0


def _last_time(run_dir: RunDir) -> float:
    times = [
        r["time"] for r in read_metrics(run_dir.path) if isinstance(r.get("time"), int | float)
    ]
    return max(times) if times else 0.0
