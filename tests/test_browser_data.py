"""The browser on other data shapes: an image folder's preview and a multi-label run's results
(the server and page fixtures come from tests/browser.py)."""

from __future__ import annotations

import tiny
from browser import (
    MODEL,
    assert_no_errors,
    box,
    load_dataset,
    open_settled,
    open_tab,
    text_of,
    wait_js,
    wait_text,
)


def test_an_image_dataset_previews_its_images(server, page, image_folder):
    """An image folder: the data preview shows the images themselves beside their class."""
    open_settled(page, server)
    load_dataset(page, image_folder, "classes (2)", "the image folder's classes")
    wait_js(
        page,
        "() => document.querySelectorAll('#dataset-preview img[src^=\"data:\"]').length >= 1",
        "thumbnails in the data preview",
    )
    preview = text_of(page, "#dataset-preview")
    assert "red" in preview or "blue" in preview, preview
    assert_no_errors(page, "image preview")


def test_a_multi_label_run_shows_its_per_class_counts(server, page, tmp_path):
    """A list-of-labels dataset trains as multi-label; Results shows the per-class table with
    its counts (eval.json has no confusion matrix) and no error."""
    import random

    rng = random.Random(0)
    rows = []
    for i in range(60):
        labels = sorted(rng.sample(list(tiny.WORDS), 1 + i % 2))
        words = [w for label in labels for w in rng.sample(tiny.WORDS[label], 2)]
        rows.append({"text": " ".join(words), "labels": labels})
    data = tiny.write_jsonl(tmp_path / "tags.jsonl", rows)
    page.goto(server, wait_until="domcontentloaded")
    wait_text(page, "#model-card", "all-MiniLM-L6-v2", "the default model's card")
    box(page, "model-id").fill(MODEL)
    page.locator("#model-load").click()
    wait_text(page, "#model-card", MODEL, "the tiny model's card")
    open_tab(page, "2 · Data")
    wait_text(page, "#dataset-card", "support_tickets", "the demo dataset's card")
    load_dataset(page, data, "tags.jsonl", "the multi-label dataset's card")
    open_tab(page, "4 · Train")
    box(page, "epochs").fill("2")
    box(page, "epochs").press("Tab")
    page.locator("#train-btn").click()
    wait_text(page, "#train-msg", "Started", "the run to start")
    wait_text(page, "#train-msg", "completed", "the completed banner")
    page.locator("#open-results").click()
    wait_text(page, "#results-summary", "micro F1", "the multi-label results")
    table = wait_text(page, "#per-class", "false +", "the per-class counts")
    for name in tiny.WORDS:
        assert name in table, table
    assert_no_errors(page, "multi-label results")
