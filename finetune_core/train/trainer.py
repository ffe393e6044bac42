"""transformers.Trainer, made cheap for models that are mostly frozen.

The stock Trainer walks every module of the model at every step: to clip gradients
(`model.parameters()`), to zero them (`model.zero_grad()`) and to count FLOPs. For a
head-only fine-tune of all-MiniLM-L6-v2 on CPU that bookkeeping is most of a step once the
frozen part is cached (about 3 ms of 4.5 ms). Here those walks cover only the trainable
parameters, taken once.

Checkpoints of a run with frozen parameters hold only what training changes (trainable
parameters and buffers) in `trainable.safetensors`: the frozen rest is the base model's, which
a resume loads anyway. That is a few kB for a head instead of the whole model (87 MB for
all-MiniLM-L6-v2, 0.2-0.3 s a save). The file name is deliberately not `model.safetensors`, so
`from_pretrained` on such a checkpoint fails loudly instead of loading random frozen weights.
The final `model/` is always complete.

Text batches are ordered by length where that is exact (sampling.py): evaluation and
prediction run longest first and return results in the dataset's order; training groups
lengths with `train_sampling_strategy="group_by_length"` (the run's `group_by_length`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from finetune_core.train import sampling

TRAINABLE_WEIGHTS = "trainable.safetensors"


class FinetuneTrainer(Trainer):
    _flop_params: int | None = None
    _trainable: list[torch.nn.Parameter] | None = None
    _eval_order: tuple[object, list[int]] | None = None  # (dataset, its longest-first order)

    # ---- batch order by length (text) ----------------------------------------------------
    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy == "group_by_length":
            lengths = sampling.lengths_of(dataset)
            if lengths is not None:  # the stock sampler cannot read the cache's numbered rows
                size = self.args.train_batch_size * self.args.gradient_accumulation_steps
                return LengthGroupedSampler(size, lengths=lengths)
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        """Longest first on one process (several shard the order themselves)."""
        lengths = sampling.lengths_of(eval_dataset) if self.args.world_size <= 1 else None
        if lengths is None:
            return super()._get_eval_sampler(eval_dataset)
        self._eval_order = (eval_dataset, sampling.longest_first(lengths))
        return sampling.Ordered(self._eval_order[1])

    def evaluation_loop(self, dataloader, *args, **kwargs):
        """Predictions and labels back in the dataset's order (metrics do not depend on it)."""
        output = super().evaluation_loop(dataloader, *args, **kwargs)
        known, self._eval_order = self._eval_order, None
        if known is None or known[0] is not getattr(dataloader, "dataset", None):
            return output
        return output._replace(
            predictions=sampling.restore_order(output.predictions, known[1]),
            label_ids=sampling.restore_order(output.label_ids, known[1]),
        )

    # ---- per-step bookkeeping over the trainable parameters only ------------------------
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        if self._trainable is None:
            self._trainable = [p for p in self.model.parameters() if p.requires_grad]
        return self._trainable

    def is_partly_frozen(self) -> bool:
        return len(self.trainable_parameters()) < sum(1 for _ in self.model.parameters())

    def _clip_grad_norm(self, model):
        """Frozen parameters have no gradients, so clipping over the trainable ones gives the
        same norm and the same update without walking the whole model."""
        if self.is_fsdp_enabled or self.is_deepspeed_enabled:
            return super()._clip_grad_norm(model)
        return self.accelerator.clip_grad_norm_(
            self.trainable_parameters(), self.args.max_grad_norm
        )

    def train(self, *args, **kwargs):
        # `model.zero_grad()` runs after every optimizer step; only trainable parameters can
        # hold gradients, so zeroing them is the same thing (restored after training)
        params = self.trainable_parameters()
        self.model.zero_grad = lambda set_to_none=True: _zero(params, set_to_none)
        if not self.args.auto_find_batch_size:  # its retries after an OOM need the collection
            self.accelerator.free_memory = _free_memory_without_gc(self.accelerator)
        try:
            return super().train(*args, **kwargs)
        finally:
            self.model.__dict__.pop("zero_grad", None)
            self.accelerator.__dict__.pop("free_memory", None)

    def floating_point_ops(self, inputs):
        """The Trainer's estimate (6 x tokens x non-embedding parameters), with the parameter
        count taken once: the stock method walks every module at every step."""
        main = getattr(self.model, "main_input_name", "input_ids")
        if main not in inputs or not hasattr(self.model, "num_parameters"):
            return 0
        if self._flop_params is None:
            self._flop_params = self.model.num_parameters(exclude_embeddings=True)
        return 6 * inputs[main].numel() * self._flop_params

    # ---- checkpoints of partly frozen runs: the trainable part only ---------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        plain = self.is_fsdp_enabled or self.is_deepspeed_enabled or not _internal_call
        if plain or not self.is_partly_frozen():
            return super().save_model(output_dir, _internal_call=_internal_call)
        if not self.args.should_save:
            return None
        from safetensors.torch import save_file

        os.makedirs(output_dir, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        state = {k: v.detach().contiguous() for k, v in trainable_state(model).items()}
        save_file(state, os.path.join(output_dir, TRAINABLE_WEIGHTS), metadata={"format": "pt"})
        model.config.save_pretrained(output_dir)
        return None

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        path = Path(resume_from_checkpoint) / TRAINABLE_WEIGHTS
        if not path.exists():
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        from safetensors.torch import load_file

        model = model or self.model
        expected = set(trainable_state(model))
        state = load_file(str(path), device="cpu")
        if set(state) != expected:
            raise ValueError(
                f"Checkpoint {resume_from_checkpoint} was saved with other layers trainable "
                "than this run's; resume with the config it was started with."
            )
        model.load_state_dict(state, strict=False)
        return None


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State entries that training can change: trainable parameters and all buffers (BatchNorm
    statistics of a trainable group; frozen groups run in eval mode, so theirs stay put)."""
    named = list(model.named_parameters(remove_duplicate=False))
    trainable = {name for name, p in named if p.requires_grad}
    params = {name for name, _ in named}
    out, seen = {}, set()
    for key, value in model.state_dict().items():
        if key not in trainable and key in params:
            continue
        # tied weights appear under several names; safetensors refuses shared storage, and
        # loading one name restores them all
        where = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape))
        if value.numel() and where in seen:
            continue
        seen.add(where)
        out[key] = value
    return out


def _free_memory_without_gc(accelerator):
    """The training loop starts with `accelerator.free_memory()`: it forgets the previous
    training's prepared objects and runs a full garbage collection, 0.3-0.5 s before step 1
    in a process with transformers and gradio loaded (bench/warm.py), for nothing: a run's
    objects are collected when the run ends (failures.release_memory). Same reset, no
    collection; with objects to release, or under DeepSpeed, the stock method."""
    stock = type(accelerator).free_memory.__get__(accelerator)

    def free_memory(*objects):
        if objects or getattr(accelerator, "deepspeed_engine_wrapped", None) is not None:
            return stock(*objects)
        from accelerate.utils.memory import clear_device_cache

        clear_device_cache(garbage_collection=False)  # still empties a GPU's cache
        accelerator._schedulers, accelerator._optimizers = [], []
        accelerator._models, accelerator._dataloaders = [], []
        accelerator.step = 0
        return []

    return free_memory


def _zero(params: list[torch.nn.Parameter], set_to_none: bool) -> None:
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.detach_().zero_()
