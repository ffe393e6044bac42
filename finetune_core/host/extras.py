"""Optional features and the pip extras that bring their packages.

One place says which packages a feature needs and the one sentence a user gets when they are
missing, so the CLI, the page and the training run all say the same thing.
"""

from __future__ import annotations

import importlib.util

from finetune_core.config import TRACKERS as TRACKER_NAMES
from finetune_core.errors import DependencyError

# feature -> (the modules it imports, the extra that installs them)
EXPORT = ("ONNX export", ("onnx", "onnxscript", "onnxruntime"), "export")
TRACKERS = {name: (name,) for name in TRACKER_NAMES}  # report_to: each module has its name


def installed(module: str) -> bool:
    """True when `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent is missing, or it was blocked in sys.modules
        return False


def require(feature: str, modules: tuple[str, ...], extra: str) -> None:
    """Raise DependencyError with one sentence when any of `modules` is missing."""
    missing = [m for m in modules if not installed(m)]
    if missing:
        one = len(missing) == 1
        names = missing[0] if one else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise DependencyError(
            f"{feature} needs {names}, which {'is' if one else 'are'} not installed; install "
            f"{'it' if one else 'them'} with pip install 'finetune-dashboard[{extra}]'."
        )


def require_export() -> None:
    require(*EXPORT)


def require_trackers(report_to: list[str] | tuple[str, ...]) -> None:
    """Every tracker in `report_to` must have its package installed."""
    for name in report_to:
        require(f"report_to {name}", TRACKERS[name], "tracking")
