"""Runs outlive the server (issue 21): a real dashboard process is killed mid-run (kill -9, as a
Space restart or a crash ends it), started again on the same address, and Chromium reattaches.

- locally (one person): the page comes back on the run, marked interrupted at the step it
  reached; Resume continues it in the same folder and its metrics continue (each step once);
- hosted for strangers: an anonymous visitor's run comes back in their browser and in no other;
  a visitor signed in with Hugging Face finds their run in any browser they sign in from.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DATASET,
    LONG,
    MODEL,
    assert_no_toast,
    box,
    load_model_and_data,
    open_tab,
    text_of,
    wait_for,
    wait_text,
)

from finetune_core import runs
from finetune_core.jobs.launcher import free_port

MOCK_LOGIN_TOKEN = "mock-oauth-token-for-local-dev"  # gradio's local sign-in hands this out


class Dashboard:
    """`finetune ui` as its own process, on a fixed port (the browser keeps its key per
    address), with its own runs folder."""

    def __init__(self, runs_dir: Path, log: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {**os.environ, "FINETUNE_RUNS_DIR": str(runs_dir), **env}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "finetune_core", "ui", "--port", str(self.port)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}config", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise AssertionError(f"the dashboard did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """What a restart does to a Space: every process ends at once (kill -9), the server's
        and its trainers' (a hosted visitor's run trains in a process of its own session)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        root = Path(self.env["FINETUNE_RUNS_DIR"])
        for run in root.iterdir() if root.is_dir() else []:
            held = runs.RunDir(run).read_status()  # as written: the process that holds it
            pid, started = held.get("pid"), held.get("process_started")
            # only the very process that wrote it (same pid and start time): a pid reused by
            # anyone else's process on this machine is left alone
            if isinstance(pid, int) and started and runs.status.process_started(pid) == started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)


@pytest.fixture()
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def dashboards(fake_hub, tiny_bert, tmp_path):
    """Dashboards this test starts; every one is killed at the end."""
    import tiny

    fake_hub.add_model(MODEL, tiny_bert, pipeline_tag="fill-mask", tags=["bert"])
    data = tmp_path / "dataset"
    rows = tiny.text_rows(120, seed=3)
    tiny.write_csv(data / "data" / "train.csv", rows, rename={"text": "sentence", "label": "mood"})
    (data / "README.md").write_text("---\nlicense: mit\n---\n# moods\n")
    fake_hub.add_dataset(DATASET, data, task_categories=["text-classification"])
    made: list[Dashboard] = []

    def make(**env: str) -> Dashboard:
        made.append(Dashboard(tmp_path / "runs", tmp_path / f"server-{len(made)}.log", **env))
        return made[-1]

    yield make
    for dashboard in made:
        dashboard.kill()


def visitor(browser, url: str):
    """A new browser profile (its own localStorage: its own anonymous key) on the page."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url, wait_until="domcontentloaded")
    wait_text(page, "#model-card", "architecture", "a model card (the page has loaded)")
    return page


def sign_in(page) -> None:
    """gradio's local sign-in (FINETUNE_LOCAL_LOGIN=1): the machine's HF_TOKEN user."""
    page.get_by_text("Hugging Face account").click()
    with page.expect_navigation(timeout=LONG):
        page.get_by_role("button", name="Sign in with Hugging Face").click()
    page.get_by_text("Hugging Face account").click()
    page.get_by_role("button", name="Logout (test-user)").wait_for(timeout=LONG)
    wait_text(page, "#model-card", "architecture", "the page after signing in")


def start_run(page, *, advanced: dict[str, str] | None = None) -> str:
    """Model, data, a long run, Train; returns the run folder's name."""
    load_model_and_data(page)
    open_tab(page, "4 · Train")
    fields = {"epochs": "1000", "batch-size": "2"}
    for elem, value in fields.items():
        box(page, elem).fill(value)
        box(page, elem).press("Tab")
    if advanced:
        page.get_by_text("Advanced", exact=True).click()
        for elem, value in advanced.items():
            box(page, elem).fill(value)
            box(page, elem).press("Tab")
    page.locator("#train-btn").click()
    note = wait_text(page, "#train-msg", "Started", "the run to start")
    return note.split("Started ", 1)[1].split()[0].rstrip(".")


def loss_steps(run: Path) -> list[int]:
    return [r["step"] for r in runs.read_metrics(run) if "loss" in r]


def test_a_local_run_comes_back_interrupted_and_resumes_where_it_was(dashboards, browser, tmp_path):
    dash = dashboards()
    dash.start()
    page = visitor(browser, dash.url)
    name = start_run(page, advanced={"save-steps": "5", "logging-steps": "1"})
    run = tmp_path / "runs" / name
    wait_for(lambda: runs.RunDir(run).checkpoint_step() >= 10, "a checkpoint at step 10")
    dash.kill()
    reached = max(loss_steps(run))
    assert runs.read_status(run).state == "interrupted"  # what every reader says at once

    dash.start()  # the server comes back: the run folder is all it has
    page.reload(wait_until="domcontentloaded")
    wait_text(page, "#train-msg", "interrupted", "the interrupted notice")
    wait_text(page, "#summary-bar", "interrupted", "the summary bar")
    page.locator("#resume-btn").wait_for(state="visible", timeout=LONG)
    assert box(page, "epochs").input_value() == "1000"  # the form as it was asked
    written = runs.RunDir(run).read_status()
    assert written["state"] == "interrupted" and f"step {written['step']}" in written["error"]

    page.locator("#resume-btn").click()
    wait_text(page, "#train-msg", "Resuming", "the resume notice")
    wait_for(lambda: max(loss_steps(run)) > reached + 3, "training past where it was killed")
    page.locator("#stop-btn").click()
    wait_text(page, "#train-msg", "stopped at step", "the stopped banner")
    assert_no_toast(page, "after the resume")

    steps = loss_steps(run)
    assert steps == list(range(1, steps[-1] + 1)), "each step logged once, in order"
    ends = [r["state"] for r in runs.read_metrics(run) if r.get("event") == "end"]
    assert ends == ["stopped"]
    assert sorted(p.name for p in run.parent.iterdir() if runs.is_run(p)) == [name]  # one run
    evaluated = runs.RunDir(run).read_eval()  # a stopped run shows what it has
    open_tab(page, "5 · Results")
    page.locator("#results-refresh").click()
    wait_text(page, "#results-summary", f"Accuracy {evaluated['accuracy']:.2%}", "the results")


def test_hosted_runs_come_back_to_their_owners_only(dashboards, browser, fake_hub):
    fake_hub.tokens.add(MOCK_LOGIN_TOKEN)
    dash = dashboards(FINETUNE_HOSTED="1", FINETUNE_LOCAL_LOGIN="1", HF_TOKEN="hf_test_token")
    dash.start()
    alice = visitor(browser, dash.url)  # anonymous: her key lives in her browser
    alices = start_run(alice)
    signed = visitor(browser, dash.url)  # signed in with Hugging Face
    sign_in(signed)
    theirs = start_run(signed)  # waits in the queue behind Alice's
    dash.kill()

    dash.start()
    alice.reload(wait_until="domcontentloaded")
    wait_text(alice, "#train-msg", alices, "Alice's run, back in her browser")
    wait_text(alice, "#train-msg", "interrupted", "her run, interrupted")
    alice.locator("#resume-btn").wait_for(state="visible", timeout=LONG)

    stranger = visitor(browser, dash.url)  # another anonymous visitor sees neither run
    page_text = stranger.content()
    assert alices not in page_text and theirs not in page_text
    assert not stranger.locator("#resume-btn").is_visible()

    again = visitor(browser, dash.url)  # the signed-in visitor, from a new browser profile
    sign_in(again)
    wait_text(again, "#train-msg", theirs, "the signed-in visitor's run in a new browser")
    for page, mine, other in ((again, theirs, alices), (alice, alices, theirs)):
        open_tab(page, "6 · Runs")
        page.locator("#runs-refresh").click()
        wait_text(page, "#runs-table", mine, "the visitor's own run in the list")
        assert other not in text_of(page, "#runs-table")
