"""One run into a run directory.

run.py drives it; trainer, callbacks, evaluation, phases, failures, device and
model_card help it; cache/ is the frozen-feature cache.
"""
