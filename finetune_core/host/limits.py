"""What one visitor's input may cost this host: classes, parameters, memory, tokenizer size,
time to show a card. Each limit is an environment variable (README, "Limits on input");
hosted, an unset variable means a safe default, locally it means no limit, except the card
deadline, which applies everywhere (a card is a page answer, not a job).

The bounds that protect the process itself whatever the mode (nesting depth, columns,
config.json size) are constants beside the code they guard: data/bounds.py, model/size.py.
"""

from __future__ import annotations

from finetune_core.errors import ConfigError
from finetune_core.host import env
from finetune_core.host.paths import hosted

# hosted defaults: a CPU-basic Space (2 cores, 16 GB) and a small GPU both stay responsive
HOSTED_MAX_CLASSES = 1_000  # a dense head and per-class metrics stay small
HOSTED_MAX_PARAMS = 500_000_000  # BERT-large (340 M) and ViT-large (300 M) fit; 0.7 B does not
HOSTED_MAX_TOKENIZER_MB = 50  # the largest common ones (Gemma's) are about 34 MB
CARD_SECONDS = 60.0  # a local dataset card: reading, detection, preview


def _hosted_default(name: str, default: float, unit: str) -> float:
    """The variable's value; unset: `default` when hosted, 0 (no limit) locally."""
    return env.number(name, default if hosted() else 0, unit=unit)


def max_classes() -> int:
    """FINETUNE_MAX_CLASSES: the most classes a run or card may have (0: no limit)."""
    return int(_hosted_default("FINETUNE_MAX_CLASSES", HOSTED_MAX_CLASSES, "classes"))


def max_params() -> int:
    """FINETUNE_MAX_PARAMS: the largest model, in parameters estimated from its config."""
    return int(_hosted_default("FINETUNE_MAX_PARAMS", HOSTED_MAX_PARAMS, "parameters"))


def max_tokenizer_bytes() -> int:
    """FINETUNE_MAX_TOKENIZER_MB: the largest tokenizer.json a run loads."""
    mb = _hosted_default("FINETUNE_MAX_TOKENIZER_MB", HOSTED_MAX_TOKENIZER_MB, "megabytes")
    return int(mb * 2**20)


def card_seconds() -> float:
    """FINETUNE_CARD_TIMEOUT: how long a local dataset card may take (default 60 s)."""
    value = env.number("FINETUNE_CARD_TIMEOUT", CARD_SECONDS, unit="seconds")
    if value <= 0:
        raise ConfigError("FINETUNE_CARD_TIMEOUT must be a positive number of seconds.")
    return value


def memory_bytes() -> int | None:
    """The memory a run may plan for on this host: FINETUNE_MAX_RSS_GB when set, else the
    machine's physical memory; None when it cannot be told."""
    limit = env.number("FINETUNE_MAX_RSS_GB", 0, unit="gigabytes")
    if limit:
        return int(limit * 2**30)
    machine = env.memory_gb()
    return int(machine * 2**30) if machine else None
