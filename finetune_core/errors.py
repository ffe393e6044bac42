"""Errors a person can act on: each carries one sentence saying what is wrong and what to do.

The CLI prints `str(exc)` and exits non-zero; the UI shows it next to the field. Anything
that is not a FinetuneError is a bug and is reported as such.
"""


class FinetuneError(Exception):
    """Base class: the message is shown to the user as it is."""


class ConfigError(FinetuneError):
    """A setting is missing, of the wrong type or out of range."""


class DataError(FinetuneError):
    """The dataset cannot be loaded or does not fit the run."""


class ModelError(FinetuneError):
    """The model cannot be loaded or does not fit the run."""


class HubError(FinetuneError):
    """The Hub refused or could not answer (missing, gated, offline)."""


class RunError(FinetuneError):
    """The run directory or a running job is in a state that forbids the action."""


class DependencyError(FinetuneError):
    """An optional feature's packages are not installed; the sentence names the extra."""
