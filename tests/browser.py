"""Shared pieces of the browser tests (a pytest plugin, see conftest.py): a real Gradio server
against the fake Hub, a headless Chromium page (Debian's /usr/bin/chromium through
Playwright; scripts/browser-deps.sh installs it, and without it the tests fail rather than
skip), and waits that say what they waited for."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
import tiny

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parent.parent
# The screenshot of the flow is kept out of the tree unless asked for
# (FINETUNE_UPDATE_SCREENSHOTS=1), so running the tests leaves the checkout clean.
SHOT_IN_TREE = os.environ.get("FINETUNE_UPDATE_SCREENSHOTS") == "1"
SHOT = ROOT / "assets" / "browser-test.png"
MODEL = "tests-org/browser-bert"
DATASET = "tests-org/browser-moods"
LABELS = ("neg", "neu", "pos")
LONG = 60_000  # ms: model loads and training on a busy CI box


@contextlib.contextmanager
def own_registry(runs_dir: Path):
    """A dashboard of its own: its own runs folder and job registry, as a server process has.
    Not hosted, the single user owns every run in the folder and the page follows the latest:
    a registry shared with other tests' servers would hand this page their runs."""
    import sys

    import finetune_core.ui.app  # noqa: F401  (every page module is loaded now)
    from finetune_core.jobs.manager import JobManager

    fresh = JobManager()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FINETUNE_RUNS_DIR", str(runs_dir))
        # the registry's own module too: the queued actions (jobs/actions.py) find it there
        for name, module in list(sys.modules.items()):
            if name.startswith(("finetune_core.ui", "finetune_core.jobs.manager")) and hasattr(
                module, "MANAGER"
            ):
                mp.setattr(module, "MANAGER", fresh)
        yield fresh
    fresh.shutdown()


@pytest.fixture(scope="module")
def server(fake_hub, tiny_bert, tmp_path_factory):
    from finetune_core.ui.app import serve_local

    fake_hub.add_model(
        MODEL, tiny_bert, downloads=4321, likes=7, pipeline_tag="fill-mask", tags=["bert"]
    )
    data = tmp_path_factory.mktemp("browser-dataset")
    # 120 rows: with length-grouped batches (the default) 60 rows left the kept best model
    # barely past uniform after 12 epochs
    rows = tiny.text_rows(120, seed=3)
    tiny.write_csv(data / "data" / "train.csv", rows, rename={"text": "sentence", "label": "mood"})
    (data / "README.md").write_text("---\nlicense: mit\n---\n# moods\nTiny test dataset.\n")
    fake_hub.add_dataset(DATASET, data, downloads=99, task_categories=["text-classification"])

    demo, url = serve_local()
    yield url
    demo.close()


@pytest.fixture()
def page(tmp_path):
    """A Chromium page on a dashboard whose runs folder and registry are this test's own."""
    with own_registry(tmp_path / "runs"):
        yield from _page(tmp_path)


def _page(tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium "
            "(run scripts/browser-deps.sh, or apt-get install -y chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.js_errors = []
        pg.on("pageerror", lambda exc: pg.js_errors.append(str(exc)))
        try:
            yield pg
        finally:
            with contextlib.suppress(Exception):  # the page as it was when something failed
                pg.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
            browser.close()


def text_of(page, selector: str) -> str:
    loc = page.locator(selector)
    return loc.inner_text() if loc.count() else ""


def wait_text(page, selector: str, needle: str, what: str, timeout: int = LONG) -> str:
    """Poll the text of `selector` until it contains `needle`; fail with what was seen."""
    deadline = time.monotonic() + timeout / 1000
    seen = ""
    while time.monotonic() < deadline:
        seen = text_of(page, selector)
        if needle in seen:
            return seen
        page.wait_for_timeout(250)
    errors = " | ".join(t for t in page.locator(".ft-error").all_inner_texts() if t.strip())
    raise AssertionError(
        f"timed out waiting for {what}: {needle!r} not in {selector} "
        f"(it shows {seen[:300]!r}; error boxes: {errors or 'none'})"
    )


def wait_js(page, js: str, what: str, arg=None, timeout: int = LONG) -> None:
    """page.wait_for_function with a failure message that says what was awaited."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"timed out ({timeout / 1000:.0f} s) waiting for {what}") from None


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def pick_row(page, table: str, repo_id: str) -> None:
    cell = page.locator(f"{table} [role=gridcell]").filter(has_text=repo_id).first
    cell.wait_for(timeout=LONG)
    cell.click()


def expected_total_params(model_dir: Path, num_labels: int) -> int:
    from finetune_core.model import inspect_model

    return inspect_model(str(model_dir), num_labels=num_labels).total_params


def assert_no_errors(page, where: str) -> None:
    content = page.content()
    assert "Traceback" not in content, f"a Python traceback is on the page ({where})"
    errors = [t for t in page.locator(".ft-error").all_inner_texts() if t.strip()]
    assert not errors, f"error boxes are not empty ({where}): {errors}"
    toasts = [t for t in page.locator(".toast-body.error").all_inner_texts() if t.strip()]
    assert not toasts, f"Gradio error toasts ({where}): {toasts}"
    assert not page.js_errors, f"JavaScript errors ({where}): {page.js_errors}"


LOSS_POINTS_JS = """() => {
  const paths = document.querySelectorAll('#loss-plot .scatterlayer .trace path.js-line');
  let n = 0;
  for (const p of paths) n = Math.max(n, ((p.getAttribute('d') || '').match(/[ML]/g) || []).length);
  return n >= 2;
}"""


def box(page, elem: str):
    return page.locator(f"#{elem} input, #{elem} textarea").first


def assert_no_toast(page, where: str) -> None:
    toasts = [t for t in page.locator(".toast-body.error").all_inner_texts() if t.strip()]
    assert not toasts, f"Gradio error toasts ({where}): {toasts}"
    assert "Traceback" not in page.content(), f"a Python traceback is on the page ({where})"


def load_model_and_data(page) -> None:
    """Step 1 and 2 of the page: the tests' model and dataset, loaded."""
    box(page, "model-id").fill(MODEL)
    page.locator("#model-load").click()
    wait_text(page, "#model-card", MODEL, "the model's card")
    open_tab(page, "2 · Data")
    load_dataset(page, DATASET, "classes (3)", "the dataset's classes")


def open_settled(page, server: str) -> None:
    """Open the page and let it settle: the default model and the demo dataset load on page
    load; the Data step is left open."""
    page.goto(server, wait_until="domcontentloaded")
    wait_text(page, "#model-card", "all-MiniLM-L6-v2", "the default model's card")
    open_tab(page, "2 · Data")
    wait_text(page, "#dataset-card", "support_tickets", "the demo dataset's card")


def load_dataset(page, source, expect: str, what: str) -> str:
    """Load a dataset in the (open) Data step; the card's text once it shows `expect`."""
    box(page, "dataset-id").fill(str(source))
    page.locator("#dataset-load").click()
    return wait_text(page, "#dataset-card", expect, what)


def wait_for(fn, what: str, timeout: float = LONG / 1000):
    """fn()'s first true value, polled every half second for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
