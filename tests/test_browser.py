"""A real browser drives the whole dashboard against a real Gradio server.

Debian's headless Chromium (driven by Playwright) searches the fake Hub for a tiny model and a
dataset, picks them, unfreezes everything, trains, watches the loss chart gain points, reads
the results and tries the model in the playground. With FINETUNE_UPDATE_SCREENSHOTS=1 it
saves assets/browser-test.png. /usr/bin/chromium comes from scripts/browser-deps.sh; without
it the test fails (it is not skipped), so CI cannot pass without the browser check.
"""

from __future__ import annotations

import json
import re
import time
import zipfile

from browser import (
    DATASET,
    LABELS,
    LONG,
    LOSS_POINTS_JS,
    MODEL,
    SHOT,
    SHOT_IN_TREE,
    assert_no_errors,
    assert_no_toast,
    box,
    expected_total_params,
    open_settled,
    open_tab,
    pick_row,
    text_of,
    wait_js,
    wait_text,
)


def test_whole_flow_in_a_browser(server, page, tiny_bert, tmp_path_factory):
    start = time.monotonic()
    open_settled(page, server)  # the default model and the demo dataset load on page load

    # 1 · Model: search the Hub, click the row, use it
    open_tab(page, "1 · Model")
    page.get_by_label("Search models").fill("browser-bert")
    page.locator("#model-search-btn").click()
    pick_row(page, "#model-results", MODEL)
    model_box = page.locator("#model-id input, #model-id textarea").first
    wait_js(
        page,
        "([el, v]) => el.value === v",
        f"the model box to hold {MODEL} after clicking its row",
        [model_box.element_handle(), MODEL],
    )
    # a click on a row applies it: the card follows without pressing Use this model
    card = wait_text(page, "#model-card", MODEL, "the clicked model's card")
    # it reads at most 64 tokens: Max length (default 128) follows, with one line saying so
    wait_text(page, "#model-msg", "Max length set to 64", "the Max length note")
    page.locator("#model-load").click()
    assert "BertFor" in card, f"the card names no architecture: {card!r}"
    assert_no_errors(page, "model tab")

    # 2 · Data: search, click the row, use it; the card lists the classes, the label is picked
    open_tab(page, "2 · Data")
    page.get_by_label("Search datasets").fill("browser-moods")
    page.locator("#data-search-btn").click()
    pick_row(page, "#data-results", DATASET)
    data_box = page.locator("#dataset-id input, #dataset-id textarea").first
    wait_js(
        page,
        "([el, v]) => el.value === v",
        f"the dataset box to hold {DATASET} after clicking its row",
        [data_box.element_handle(), DATASET],
    )
    data_card = wait_text(page, "#dataset-card", DATASET, "the clicked dataset's card")
    page.locator("#dataset-load").click()
    wait_text(page, "#dataset-card", "classes (3)", "the class list on the dataset card")
    data_card = text_of(page, "#dataset-card")
    for name in LABELS:
        assert name in data_card, f"class {name!r} missing from the dataset card: {data_card!r}"
    label_pick = page.get_by_label("Label column")
    wait_js(
        page,
        "el => el.value === 'mood'",
        "the label column picker to show the detected column 'mood'",
        label_pick.element_handle(),
    )
    assert_no_errors(page, "data tab")

    # 3 · Head & freezing: 3 classes pre-filled; "everything" makes every parameter trainable
    open_tab(page, "3 · Head & freezing")
    num_labels = page.locator("#num-labels input, #num-labels textarea").first
    wait_js(
        page,
        "el => el.value === '3'",
        "the class count to be pre-filled with 3",
        num_labels.element_handle(),
    )
    total = expected_total_params(tiny_bert, 3)
    before = wait_text(
        page, "#trainable-summary", f"of {total:,} parameters", "the tiny model's groups"
    )
    # the layer groups of the tiny model (2 blocks), not the default model's 6
    page.get_by_label("bert.encoder.layer.1", exact=False).first.wait_for(timeout=LONG)
    assert page.get_by_label("bert.encoder.layer.5", exact=False).count() == 0
    assert f"Trainable {total:,} of" not in before, f"already all trainable: {before!r}"
    page.locator("#freeze-preset").get_by_text("everything", exact=True).click()
    after = wait_text(
        page,
        "#trainable-summary",
        f"Trainable {total:,} of {total:,}",
        "the summary after the 'everything' preset",
    )
    assert after != before and "100.00%" in after, after
    assert_no_errors(page, "freeze tab")

    # 4 · Train: a few epochs; the loss chart gains points; the run completes
    open_tab(page, "4 · Train")
    max_length = page.locator("#max-length input").first
    assert max_length.input_value() == "64", max_length.input_value()
    epochs = page.locator("#epochs input").first
    epochs.fill("12")
    epochs.press("Tab")
    lr = page.locator("#learning-rate input, #learning-rate textarea").first
    lr.fill("0.005")
    lr.press("Tab")
    page.locator("#train-btn").click()
    wait_text(page, "#train-msg", "Started", "the Train notice")
    wait_js(page, LOSS_POINTS_JS, "the loss chart to draw a line through 2+ points")
    wait_text(page, "#train-progress", "completed", "the run to complete", timeout=LONG)
    progress = text_of(page, "#train-progress")
    done = re.search(r"step (\d+)/(\d+)", progress)  # every step of 12 epochs ran
    assert done and done[1] == done[2] and int(done[2]) % 12 == 0, progress
    wait_js(
        page,
        "() => document.querySelectorAll('#metrics-plot .scatterlayer .trace').length >= 1",
        "the evaluation chart to draw a trace",
    )
    assert_no_errors(page, "train tab")
    banner = wait_text(page, "#train-msg", "completed", "the completed banner")
    assert "Started" not in banner and "Results" in banner, banner
    wait_text(page, "#summary-bar", "done: accuracy", "the summary bar's final line")
    shot = SHOT if SHOT_IN_TREE else tmp_path_factory.mktemp("shot") / SHOT.name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000  # a real page, not a blank one

    # 5 · Results, reached from the banner's button: accuracy, confusion matrix, playground
    page.locator("#open-results").click()
    results = wait_text(page, "#results-summary", "Accuracy", "the final metrics")
    assert "completed" in results, results
    wait_js(
        page,
        "() => document.querySelectorAll('#confusion-plot .heatmaplayer .hm').length >= 1",
        "the confusion-matrix heatmap",
    )
    page.locator("#try-text textarea").fill("awful hate the worst")
    page.locator("#try-btn").click()
    probs = wait_text(page, "#try-probs", "%", "the class probabilities")
    shown = [name for name in LABELS if name in probs]
    assert len(shown) >= 2, f"the probabilities name too few classes: {probs!r}"
    # the classes are told apart by their words: the trained model calls these words "neg"
    top = next((line for line in probs.splitlines() if line.strip() in LABELS), None)
    assert top == "neg", f"top class is not 'neg': {probs!r}"
    assert_no_errors(page, "results tab")
    # a file of new texts (the run's column): its predictions come back as a file
    batch = tmp_path_factory.mktemp("predict-upload") / "new.csv"
    batch.write_text("sentence\nawful hate the worst\ngood great love\n", encoding="utf-8")
    page.locator("#predict-input input[type=file]").set_input_files(str(batch))
    wait_text(page, "#predict-input", ".csv", "the upload to arrive")  # shown as "new\n.csv"
    page.locator("#predict-btn").click()
    wait_text(page, "#predict-msg", "Predicted 2 rows", "the file's predictions")
    shown = text_of(page, "#predict-output").replace("\n", "")
    assert "new-predictions.jsonl" in shown, shown
    link = page.locator("#predict-output a").first.get_attribute("href")
    lines = page.request.get(link if "://" in link else server + link.lstrip("/")).text()
    assert [json.loads(x)["prediction"] for x in lines.splitlines()] == ["neg", "pos"], lines
    # one click on Download model: the zip is made and the browser saves it
    with page.expect_download(timeout=LONG) as download:
        page.locator("#zip-btn").click()
    saved = download.value
    assert saved.suggested_filename.endswith("-model.zip"), saved.suggested_filename
    assert "config.json" in zipfile.ZipFile(saved.path()).namelist()

    elapsed = time.monotonic() - start
    assert elapsed < 180, f"the browser flow took {elapsed:.0f} s"


def test_failed_load_recovers_and_a_refresh_restores_the_form(server, page):
    page.goto(server, wait_until="domcontentloaded")
    wait_text(page, "#model-card", "all-MiniLM-L6-v2", "the default model's card")

    # a model that does not exist: a clear message, the previous model stays in use
    box(page, "model-id").fill("tests-org/no-such-model")
    page.locator("#model-load").click()
    wait_text(page, "#model-msg", "not found", "the missing model's message")
    assert "Still using" in text_of(page, "#model-msg")
    assert "all-MiniLM-L6-v2" in text_of(page, "#model-card")
    open_tab(page, "4 · Train")
    page.locator("#train-btn").click()
    wait_text(page, "#train-msg", "Use this model", "Train saying what to do first")
    assert_no_toast(page, "Train after a failed load")

    # recover: a good model and dataset, then Train works
    open_tab(page, "1 · Model")
    box(page, "model-id").fill(MODEL)
    page.locator("#model-load").click()
    wait_text(page, "#model-card", MODEL, "the good model's card")
    # no error; the one line says Max length followed the model's 64-token limit
    assert text_of(page, "#model-msg").strip().endswith("reads at most 64 tokens.")
    assert "ft-error" not in page.locator("#model-msg").inner_html()
    open_tab(page, "2 · Data")
    box(page, "dataset-id").fill(DATASET)
    page.locator("#dataset-load").click()
    wait_text(page, "#dataset-card", "classes (3)", "the dataset's classes")
    open_tab(page, "4 · Train")
    box(page, "epochs").fill("1000")  # long enough to still run after the refresh
    box(page, "epochs").press("Tab")
    box(page, "batch-size").fill("2")
    box(page, "batch-size").press("Tab")
    box(page, "learning-rate").fill("0.003")
    box(page, "learning-rate").press("Tab")
    page.locator("#train-btn").click()
    wait_text(page, "#train-msg", "Started", "the run to start")
    wait_text(page, "#summary-bar", "training", "the summary bar to follow the run")
    assert_no_toast(page, "training")

    # a refresh mid-run brings back the form, not the defaults
    page.reload(wait_until="domcontentloaded")
    # the page comes back on the Train step, following the run
    wait_text(page, "#train-msg", "Re-attached", "the re-attach notice")
    wait_js(
        page,
        "([el, v]) => el.value === v",
        "the model box to be restored",
        [box(page, "model-id").element_handle(), MODEL],
    )
    wait_text(page, "#model-card", MODEL, "the restored model's card")
    open_tab(page, "4 · Train")
    assert box(page, "epochs").input_value() == "1000"
    assert box(page, "batch-size").input_value() == "2"
    assert box(page, "learning-rate").input_value() == "0.003"
    assert box(page, "max-length").input_value() == "64"  # the run's, not the default 128
    open_tab(page, "2 · Data")
    assert box(page, "dataset-id").input_value() == DATASET
    wait_text(page, "#summary-bar", "browser-moods", "the summary bar after the refresh")

    # a second tab of the same browser follows the same run with the same form
    second = page.context.new_page()
    second.js_errors = []
    second.goto(server, wait_until="domcontentloaded")
    wait_text(second, "#train-msg", "Re-attached", "the second tab's re-attach notice")
    wait_text(second, "#summary-bar", "browser-bert", "the second tab's summary bar")
    assert box(second, "epochs").input_value() == "1000"
    assert_no_toast(second, "second tab")
    second.close()

    open_tab(page, "4 · Train")
    page.locator("#stop-btn").click()
    wait_text(page, "#train-msg", "stopped", "the stopped banner")
    assert_no_toast(page, "stop")

    # a pasted token is never stored in the browser (gradio's run history would keep it)
    page.get_by_text("Hugging Face account").click()
    box(page, "hf-token").fill("hf_browser_test_token_123")
    box(page, "hf-token").press("Tab")
    page.wait_for_timeout(1000)
    stored = page.evaluate("() => JSON.stringify(localStorage)")
    assert "hf_browser_test_token_123" not in stored, "the token is in localStorage"
