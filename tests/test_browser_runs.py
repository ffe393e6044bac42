"""The page tells the truth about runs (issue 21), in Chromium (fixtures: tests/browser.py).

The learning-rate regression: after a head-only run whose learning rate the search picked, a
reload used to put that rate (and the hidden task) into the form, so choosing "everything"
next trained the whole model at the head's rate and collapsed. The form keeps what was asked
(request.json); the run's resolved values are shown read-only beside it.
"""

from __future__ import annotations

import time

from browser import (
    LONG,
    assert_no_errors,
    box,
    load_model_and_data,
    open_tab,
    text_of,
    wait_text,
)

from finetune_core import runs
from finetune_core.config import FULL_LR


def newest_run(after: set[str]) -> runs.RunView:
    deadline = time.monotonic() + LONG / 1000
    while time.monotonic() < deadline:
        fresh = [v for v in runs.list_runs() if v.path.name not in after]
        if fresh:
            return fresh[0]
        time.sleep(0.25)
    raise AssertionError("no new run folder appeared")


def wait_resolved(path) -> dict:
    deadline = time.monotonic() + LONG / 1000
    while time.monotonic() < deadline:
        resolved = runs.RunDir(path).read_config()  # written once the run has resolved it
        if resolved:
            return resolved
        time.sleep(0.25)
    raise AssertionError(f"{path.name} never resolved its config")


def test_a_reload_restores_what_was_asked_not_what_the_run_resolved(server, page):
    page.goto(server, wait_until="domcontentloaded")
    wait_text(page, "#model-card", "all-MiniLM-L6-v2", "the default model's card")
    load_model_and_data(page)
    open_tab(page, "3 · Head & freezing")  # head only: the rate is searched on the cache
    page.locator("#freeze-preset").get_by_text("head only", exact=True).click()
    open_tab(page, "4 · Train")
    assert box(page, "learning-rate").input_value() == ""  # empty: the run decides
    box(page, "epochs").fill("2")
    box(page, "epochs").press("Tab")
    page.locator("#train-btn").click()
    wait_text(page, "#train-msg", "completed", "the head-only run to complete")
    first = newest_run(set())
    searched = first.status.learning_rate_search or {}
    assert searched.get("chosen") and first.config["learning_rate"] == searched["chosen"]
    assert first.request["learning_rate"] is None  # asked: nothing; resolved: the search's

    page.reload(wait_until="domcontentloaded")
    wait_text(page, "#summary-bar", "browser-moods", "the form reloaded")
    open_tab(page, "4 · Train")
    wait_text(page, "#resolved", "picked by the learning-rate search", "the resolved values")
    assert f"{searched['chosen']:g}" in text_of(page, "#resolved")
    assert box(page, "learning-rate").input_value() == ""  # what was asked, not 0.003
    assert box(page, "epochs").input_value() == "2"

    open_tab(page, "3 · Head & freezing")
    page.locator("#freeze-preset").get_by_text("everything", exact=True).click()
    open_tab(page, "4 · Train")
    page.locator("#train-btn").click()
    wait_text(page, "#train-msg", "Started", "the full fine-tune to start")
    second = newest_run({first.path.name})
    resolved = wait_resolved(second.path)
    assert second.request["learning_rate"] is None
    assert resolved["learning_rate"] == FULL_LR  # the rule's rate for a full fine-tune
    assert resolved["freeze"] == "none"
    wait_text(page, "#train-msg", f"Run {second.path.name} completed", "the second run's end")
    assert_no_errors(page, "after the second run")
