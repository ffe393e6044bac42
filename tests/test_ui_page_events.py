"""The page's events through gradio's own processing (preprocess, the handler behind the
boundary, postprocess) on the built page, without a browser: each event returns one value
per output, and gradio accepts every update it sends."""

from __future__ import annotations

import asyncio

import pytest
import tiny
from gradio.state_holder import SessionState


@pytest.fixture(scope="module")
def demo():
    from finetune_core.ui.app import build

    return build()


def event(demo, name: str):
    return next(f for f in demo.fns.values() if f.name == name)


def call(demo, fn, inputs: list):
    return asyncio.run(demo.process_api(block_fn=fn, inputs=inputs, state=SessionState(demo)))


def upload(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def test_upload_without_a_model_uses_the_file(demo, tmp_path):
    """A session with no model picked yet: the upload loads the dataset (the head step's
    slider used to fail gradio's check with a bare error), one value per output."""
    fn = event(demo, "upload_and_use")
    csv = tiny.write_csv(tmp_path / "moods.csv", tiny.text_rows(20))
    out = call(demo, fn, [None, upload(csv), None, None])["data"]
    assert len(out) == len(fn.outputs)
    assert out[0].endswith("moods.csv") and "ft-error" not in str(out[-1])


def test_an_upload_whose_card_fails_says_why(demo, tmp_path):
    """A file that saves but cannot be read: the card's outputs stay, the message says why
    (this path returned one value too many)."""
    fn = event(demo, "upload_and_use")
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    out = call(demo, fn, [None, upload(bad), None, None])["data"]
    assert len(out) == len(fn.outputs)
    assert "ft-error" in str(out[-1]) and "Something went wrong" not in str(out[-1])


def test_use_model_lowers_max_length_to_the_models_limit(demo, fake_hub, tiny_bert):
    fake_hub.add_model("events-org/tiny-bert", tiny_bert, pipeline_tag="fill-mask")
    fn = event(demo, "use_model")
    out = call(demo, fn, [None, "events-org/tiny-bert", 128, None])["data"]
    assert len(out) == len(fn.outputs)
    assert out[-2] == 64 and "Max length set to 64" in out[-1]


def test_naming_without_a_run_picked_says_so(demo):
    fn = event(demo, "save_notes")
    out = call(demo, fn, [None, None, "name", "note"])["data"]
    assert len(out) == len(fn.outputs) and "Pick one of your runs" in out[-1]
