"""One run into a run directory.

run.py drives it; trainer, callbacks, evaluation, phases, failures, device and
model_card help it, trackers adds report_to; cache/ is the frozen-feature cache.
"""
