"""The phases of a run (status.json "phase"), owned by the run-folder protocol: the writer
accepts only these, the page and the CLI show them.

Loading data and a model, tokenizing, filling the feature cache and the final evaluation can
each take from seconds to many minutes with no training step to show for it.
"""

from __future__ import annotations

LOADING_DATA = "loading the data"
LOADING_MODEL = "loading the model"
PREPARING = "preparing the data"
PLANNING = "timing a few steps to choose the freeze plan"
CACHING = "computing the frozen layers once (feature cache)"
SEARCHING_LR = "trying learning rates"
TRAINING = "training"
EVALUATING = "final evaluation"
BASELINE = "fitting the quick baseline"
SAVING = "saving the model"

ALL = (
    LOADING_DATA,
    LOADING_MODEL,
    PREPARING,
    PLANNING,
    CACHING,
    SEARCHING_LR,
    TRAINING,
    EVALUATING,
    BASELINE,
    SAVING,
)
COUNTED = (CACHING, EVALUATING)  # phases that report "done of total" examples
