"""RunConfig: every setting of one fine-tuning run, validated, with JSON/YAML and CLI forms.

One schema feeds the dashboard form, the exported YAML and the `finetune train` line, so the
three can never drift apart. Tokens are deliberately not a field: they come from the
environment or the login and are never written with a config.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import shlex
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from finetune_core.config import text as config_text
from finetune_core.config.choices import (
    BEST_METRICS,
    CLASS_WEIGHTS,
    DEVICES,
    FREEZE_PRESETS,
    PROBLEM_TYPES,
    TASKS,
    TRACKERS,
)
from finetune_core.config.coerce import _check_choice, _check_range, _show, coerce
from finetune_core.config.fields import (
    DATA_STEP,
    HEAD_STEP,
    HIDDEN,
    MODEL_STEP,
    TRAIN_STEP,
    field_ui,
    setting,
)
from finetune_core.config.text import parse_text
from finetune_core.errors import ConfigError

_PT = (
    "auto: multi-label (a sigmoid per class) when the label column holds lists, or labels "
    "joined by ',', ';' or '|'"
)
_CW = "balanced: each class's loss weighted by n / (classes x count); none: plain loss"
_BEST = "f1_macro, f1_micro, accuracy or loss; empty: macro F1 (micro F1 for multi-label)"
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$")


# the learning-rate rule (learning_rate_for below), also the form's help for the field
HEAD_ONLY_LR, BLOCKS_LR, FULL_LR = 1e-3, 3e-4, 5e-5
HEAD_ONLY_SHARE = 0.2  # below this share of trainable parameters a run counts as head-only
LEARNING_RATE_RULE = (
    f"empty: {HEAD_ONLY_LR:g} when only the head trains (searched on cached features), "
    f"{BLOCKS_LR:g} for the top blocks under {HEAD_ONLY_SHARE:.0%} of the parameters, "
    f"else {FULL_LR:g}"
)
AUTO_PASSES = 4.0  # an empty time_budget: this many forward passes over the training rows
_BUDGET = (
    f"freeze auto trains the deepest plan that fits; empty: {AUTO_PASSES:g} passes over the data"
)
_THRESHOLD = "multi-label; empty: tuned per class on the selection split"
PUSH_HELP = "each checkpoint goes to this private repo as training goes; needs your token"


def is_repo_id(text: str) -> bool:
    """`owner/name` or `name` as the Hub accepts them, checked here so a typo fails at once
    instead of after training, when the first checkpoint is pushed."""
    return bool(_REPO_ID.match(text or "")) and ".." not in text and "--" not in text


@dataclass(frozen=True)
class RunConfig:
    """All settings of a run. `None` means "detect" or "all", as documented per field.

    Immutable once built: `from_dict` validates it once, and every change after that is a new
    value (`dataclasses.replace`, `with_overrides`), so nothing downstream can alter what was
    checked. What a run detects lives in `ResolvedRun`, which `resolved()` folds in.
    """

    model: str = setting("", "Model (Hub id or local folder)", MODEL_STEP)
    dataset: str = setting("", "Dataset (Hub id, file or folder)", DATA_STEP)
    dataset_config: str | None = setting(None, "Config (optional)", DATA_STEP)
    train_split: str = setting("train", "Train split")
    eval_split: str | None = setting(None, "Eval split", help="empty: validation/test, or hold out")
    text_column: str | None = setting(None, "Text column", DATA_STEP)
    image_column: str | None = setting(None, "Image column", DATA_STEP)
    label_column: str | None = setting(None, "Label column", DATA_STEP)
    num_labels: int | None = setting(None, "Classes (new head)", HEAD_STEP, low=2, high=100_000)
    freeze: str | list[str] = setting("auto", "Frozen layer groups", HEAD_STEP)
    time_budget: float | None = setting(
        None, "Time budget (s)", help=_BUDGET, low=0, high=10**7, low_open=True
    )
    task: str = setting("auto", "Task", help="auto: from the model and the data", choices=TASKS)
    epochs: float = setting(3.0, "Epochs", TRAIN_STEP, low=0, high=1000, low_open=True)
    learning_rate: float | None = setting(
        None, "Learning rate", TRAIN_STEP, LEARNING_RATE_RULE, low=0, high=1, low_open=True
    )
    batch_size: int = setting(16, "Batch size", TRAIN_STEP, low=1, high=4096)
    max_length: int = setting(128, "Max length (text)", TRAIN_STEP, low=1, high=131072)
    weight_decay: float = setting(0.0, "Weight decay", low=0, high=1)
    warmup_ratio: float = setting(0.0, "Warmup ratio", low=0, high=1)
    seed: int = setting(42, "Seed", low=0, high=2**32 - 1)
    max_train_samples: int | None = setting(None, "Max train samples", low=1, high=10**12)
    max_eval_samples: int | None = setting(None, "Max eval samples", low=1, high=10**12)
    validation_fraction: float = setting(
        0.1, "Hold-out fraction", help="without an eval split", low=0, high=0.9, low_open=True
    )
    logging_steps: int = setting(5, "Log every N steps", low=1, high=10**9)
    save_steps: int = setting(50, "Checkpoint every N steps", low=1, high=10**9)
    save_total_limit: int = setting(2, "Checkpoints kept", low=1, high=1000)
    output_dir: str | None = setting(None, "Run folder", HIDDEN)  # the dashboard picks it
    device: str = setting("auto", "Device", choices=DEVICES)
    feature_cache: bool = setting(True, "Frozen-feature cache", help="frozen layers run once")
    torch_compile: bool = setting(False, "torch.compile")
    push_checkpoints_to: str | None = setting(  # a Hub repo id; needs the user's token
        None, "Push checkpoints to (Hub repo)", help=PUSH_HELP, placeholder="owner/name"
    )
    # Filled in when the run starts (detected columns, label names); kept in config.json.
    label_names: list[str] | None = setting(None, "Class names", HIDDEN)
    # Experiment trackers that also get every logged value (train/trackers.py); each needs
    # its package (`pip install "finetune-dashboard[tracking]"`); tokens only from the env.
    report_to: list[str] = setting(list, "Experiment trackers", help=", ".join(TRACKERS))
    # length-grouped training batches for text (less padding; see train/sampling.py)
    group_by_length: bool = setting(True, "Group text batches by length", help="less padding")
    # Issue 14 (train/quality.py). freeze_plan: what `freeze: auto` chose, filled in by the run.
    freeze_plan: dict | None = setting(None, "Freeze plan", HIDDEN)
    problem_type: str = setting("auto", "Problem type", help=_PT, choices=PROBLEM_TYPES)
    threshold: float | None = setting(
        None, "Multi-label threshold", help=_THRESHOLD, low=0, high=1, low_open=True
    )
    # bench/quality.py: macro F1 0.80 vs 0.76 with a 3% class; balanced data: no change
    class_weight: str = setting("balanced", "Class weights", help=_CW, choices=CLASS_WEIGHTS)
    keep_best: bool = setting(True, "Keep the best evaluation", help="final model = best eval")
    metric_for_best: str | None = setting(None, "Metric for best", help=_BEST)
    early_stopping_patience: int | None = setting(None, "Early stopping patience", low=1, high=1e3)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """Build and validate a config from a mapping; raises ConfigError with one sentence."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"A config must be a mapping of keys to values, not {type(data).__name__}; "
                "see the README for the keys."
            )
        known = field_types()
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                name = _show(key) if not isinstance(key, str) else key[:60]
                hint = difflib.get_close_matches(str(name), list(known), n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ConfigError(f"Unknown config key '{name}'{tip}; remove it or fix its name.")
            values[key] = coerce(key, value, known[key])
        cfg = cls(**values)
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a JSON or YAML config file."""
        path = Path(path)
        try:
            text = config_text.read(path)
        except FileNotFoundError:
            raise ConfigError(f"Config file {path} does not exist; check the path.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config file {path} cannot be read ({exc}).") from None
        return cls.from_dict(parse_text(text, str(path)))

    def with_overrides(self, overrides: dict[str, Any]) -> RunConfig:
        """A copy with some keys replaced, validated again."""
        data = self.to_dict()
        data.update(overrides)
        return RunConfig.from_dict(data)

    # ---- validation ---------------------------------------------------------------
    def validate(self) -> None:
        """Check every value; the message names the key, what is wrong and what to do."""
        if not str(self.model).strip():
            raise ConfigError("No model given; set 'model' to a Hub id or a local folder.")
        if not str(self.dataset).strip():
            raise ConfigError("No dataset given; set 'dataset' to a Hub id, file or folder.")
        for f in dataclasses.fields(self):  # the ranges live in the field declarations
            meta, value = field_ui(f), getattr(self, f.name)
            if meta.low is not None and meta.high is not None and value is not None:
                _check_range(f.name, value, low=meta.low, high=meta.high, low_open=meta.low_open)
        if self.device not in DEVICES:
            raise ConfigError(
                f"device must be one of {', '.join(DEVICES)}, not {_show(self.device)}."
            )
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, not {_show(self.task)}.")
        if isinstance(self.freeze, str):
            if self.freeze not in FREEZE_PRESETS:
                raise ConfigError(
                    f"freeze must be 'auto', 'backbone', 'none' or a list of layer-group names, "
                    f"not {_show(self.freeze)}; `finetune inspect MODEL` lists the groups."
                )
        elif not all(isinstance(g, str) and g for g in self.freeze):
            raise ConfigError("freeze list must hold layer-group names (strings).")
        for key, allowed in (("problem_type", PROBLEM_TYPES), ("class_weight", CLASS_WEIGHTS)):
            _check_choice(key, getattr(self, key), allowed)
        if self.metric_for_best is not None:
            _check_choice("metric_for_best", self.metric_for_best, BEST_METRICS)
        if self.push_checkpoints_to is not None and not is_repo_id(self.push_checkpoints_to):
            raise ConfigError(
                "push_checkpoints_to must be a Hub repo id such as 'owner/name' or 'name', "
                f"not {_show(self.push_checkpoints_to)}."
            )
        for name in self.report_to:
            if name not in TRACKERS:
                hint = difflib.get_close_matches(str(name), TRACKERS, n=1)
                tip = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ConfigError(
                    f"report_to lists '{name}'{tip}; the trackers are {', '.join(TRACKERS)}."
                )
        for key in ("train_split", "eval_split", "dataset_config"):
            value = getattr(self, key)
            if value is not None and not str(value).strip():
                raise ConfigError(f"{key} is empty; give a name or leave it out.")

    def resolved(self, found: ResolvedRun) -> RunConfig:
        """This config with what the run detected filled in (columns, labels, task, rate)."""
        return dataclasses.replace(
            self,
            text_column=found.text_column,
            image_column=found.image_column,
            label_column=found.label_column,
            num_labels=found.num_labels,
            label_names=list(found.label_names),
            task=found.task,
            learning_rate=found.learning_rate,
        )

    # ---- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if isinstance(data["freeze"], tuple):
            data["freeze"] = list(data["freeze"])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        text = self.to_yaml() if path.suffix in (".yaml", ".yml") else self.to_json()
        path.write_text(text, encoding="utf-8")

    def cli_line(self, config_path: str = "run.yaml") -> str:
        """The shell command that runs this config headless."""
        return f"finetune train --config {shlex.quote(config_path)}"

    def cli_flags(self) -> str:
        """The same config as `finetune train` flags (only keys that differ from defaults)."""
        default = RunConfig()
        parts = ["finetune", "train"]
        for key, value in self.to_dict().items():
            if key in ("label_names", "freeze_plan") or value == getattr(default, key):
                continue
            if isinstance(value, list):
                value = ",".join(value)
            parts += [f"--{key.replace('_', '-')}", shlex.quote(str(value))]
        return " ".join(parts)


# ---- what a run detects -----------------------------------------------------------------


def learning_rate_for(
    requested: float | None, trainable_share: float, *, trains_blocks: bool = False
) -> float:
    """The learning rate a run uses: the one asked for; else, under 20% of the parameters
    trainable, 1e-3 for a head (a new head learns fast) and 3e-4 when transformer blocks train
    too (measured on TREC: the top block reaches macro F1 0.94 at 3e-4); else 5e-5 (fine-tuning
    the backbone). The training code and the form's help both come from here."""
    if requested is not None:
        return requested
    if trainable_share >= HEAD_ONLY_SHARE:
        return FULL_LR
    return BLOCKS_LR if trains_blocks else HEAD_ONLY_LR


@dataclass(frozen=True)
class ResolvedRun:
    """What a run found out once its data and model were loaded. The config stays as asked;
    `RunConfig.resolved(this)` is the config.json that reproduces the run exactly."""

    text_column: str | None
    image_column: str | None
    label_column: str | None
    label_names: tuple[str, ...]
    task: str
    learning_rate: float
    frozen_groups: tuple[str, ...] = ()
    trainable_share: float = 1.0

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


@cache
def field_types() -> dict[str, Any]:
    """Each config key's declared type, resolved (`int | None`, not the string "int | None")."""
    hints = typing.get_type_hints(RunConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(RunConfig)}
