"""What a run is doing before and after its training loop, for the page and the terminal.

Loading data and a model, tokenizing, filling the feature cache and the final evaluation can
each take from seconds to many minutes with no training step to show for it. The phase goes
to status.json ("phase", and "phase_done"/"phase_total" while counting examples), at most
once a second while counting, and to an optional callback (the CLI's progress line).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from finetune_core.runs import RunDir

LOADING_DATA = "loading the data"
LOADING_MODEL = "loading the model"
PREPARING = "preparing the data"
PLANNING = "timing a few steps to choose the freeze plan"
CACHING = "computing the frozen layers once (feature cache)"
TRAINING = "training"
EVALUATING = "final evaluation"
BASELINE = "fitting the quick baseline"
SAVING = "saving the model"


class Phases:
    def __init__(
        self,
        run_dir: RunDir,
        is_main: bool,
        on_phase: Callable[[str, int | None, int | None], None] | None = None,
    ):
        self.run_dir, self.is_main, self.on_phase = run_dir, is_main, on_phase
        self._last_write = 0.0
        self._phase: str | None = None  # the last one written: a new phase shows at once

    def set(self, phase: str | None) -> None:
        """Enter a phase (None: the run is over)."""
        self._report(phase, None, None, force=True)

    def say(self, sentence: str) -> None:
        """A decision worth a line in the terminal (the freeze plan): the callback only;
        status.json holds it in its own key."""
        if self.is_main and self.on_phase:
            self.on_phase(sentence, None, None)

    def count(self, phase: str, done: int, total: int) -> None:
        """Progress within a phase, in examples."""
        self._report(phase, done, total, force=done >= total)

    def _report(self, phase, done, total, force: bool) -> None:
        if not self.is_main:
            return
        if self.on_phase and phase:
            self.on_phase(phase, done, total)
        now = time.monotonic()
        if force or phase != self._phase or now - self._last_write >= 1.0:
            self._last_write, self._phase = now, phase
            self.run_dir.write_status(phase=phase, phase_done=done, phase_total=total)
