"""The allowed values of the config keys that are choices (one owner: validation, coercion
and the form all read them here)."""

FREEZE_PRESETS = ("auto", "backbone", "none")
PROBLEM_TYPES = ("auto", "single_label", "multi_label")
CLASS_WEIGHTS = ("balanced", "none")
BEST_METRICS = ("f1_macro", "f1_micro", "accuracy", "loss")  # keep_best, early stopping
DEVICES = ("auto", "cpu", "cuda", "mps")
TASKS = ("auto", "text", "image")
TRACKERS = ("tensorboard", "trackio", "wandb", "mlflow")  # report_to
