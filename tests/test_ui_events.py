"""Single page events outside the random sessions of test_ui_state.py: a step renders before
any model, the error boundary, a new config key's place in the form, the page's words."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from finetune_core.ui import events, wiring
from finetune_core.ui.state import Draft


def test_no_model_yet_still_renders_the_head_step():
    """The last-N slider's maximum stays above its minimum before any model is loaded
    (gradio refuses a slider with maximum == minimum: the upload event failed on it)."""
    names = ("num_labels", "preset", "last_n", "note", "summary", "frozen", "tree")
    freeze = SimpleNamespace(**{n: n for n in names})
    page = SimpleNamespace(
        freeze=freeze,
        shared=SimpleNamespace(draft="draft"),
        summary="bar",
        model=SimpleNamespace(card="card"),
    )
    update = wiring.render_view(page, Draft())["last_n"]
    assert update["maximum"] > 1


def test_boundary_turns_an_exception_into_the_steps_message(caplog):
    from finetune_core.ui.common import guarded

    def broken(x):
        raise KeyError("bert.embeddings")

    out = guarded(broken, 3, 1)("x")
    assert "Something went wrong in this step (KeyError)" in out[1]
    assert "bert.embeddings" not in out[1]
    assert "page handler broken failed" in caplog.text


def test_a_new_config_key_without_metadata_lands_in_advanced():
    from finetune_core.config.fields import ADVANCED, field_ui

    extra = dataclasses.make_dataclass("X", [("brand_new", int, dataclasses.field(default=1))])
    meta = field_ui(dataclasses.fields(extra)[0])
    assert meta.group == ADVANCED and meta.label == "brand_new"


def test_messages_use_the_pages_words():
    from finetune_core.ui.form import page_words

    assert page_words("label_column 'x' is missing") == "\"Label column\" 'x' is missing"
    assert page_words("epochs must be at most 1000, not 1500.").startswith('"Epochs" must')
    assert page_words("Model x was not found.") == "Model x was not found."
    msg = events.say("Cannot read hf://datasets/o/d@abc123/data/train.csv: bad")
    assert "hf://" not in msg and "train.csv" in msg
