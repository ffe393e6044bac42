"""What the page shows, as plain values: escaping of dataset strings, search rows, the
progress line, the summary bar, and messages in the page's words."""

import dataclasses

from finetune_core.config import RunConfig
from finetune_core.errors import ConfigError
from finetune_core.hub.search import DatasetHit, ModelHit
from finetune_core.runs import RunStatus
from finetune_core.ui import data_tab, search_panel, state, train_tab, wiring
from finetune_core.ui.state import DataFacts, Draft, ModelFacts

EVIL = '<img src=x onerror="alert(1)">'


def test_dataset_strings_are_shown_not_run():
    card = {
        "id": "files/[click](javascript:alert(1)).csv",
        "splits": {"train": 3},
        "features": {EVIL: "string", "label": "int"},
        "label_names": [EVIL, "*bold*"],
        "label_column": "label",
        "preview": [{EVIL: "a", "label": 1}],
    }
    view = data_tab.card_view(card)
    assert "<img" not in view.markdown and "&lt;img" in view.markdown
    assert "[click](" not in view.markdown and "\\*bold\\*" in view.markdown
    assert view.rows == [["a", "*bold*"]]  # the class name, not its index (a cell is text)
    assert view.columns["label_column"] == ([data_tab.NONE, EVIL, "label"], "label")
    assert "No label column" in data_tab.card_view({**card, "label_column": None}).warn


def test_search_rows_mark_gated_repos_and_missing_counts():
    hit = ModelHit("org/m", None, None, 5, None, True, None, None)
    row = search_panel.row(search_panel.MODELS, hit)
    assert row[:5] == ["org/m (gated)", "-", "-", "5", "-"]
    assert search_panel.repo_id_of(row[0]) == "org/m"
    data = DatasetHit("org/d", 1200, None, [], False, None, ["text-classification"])
    assert search_panel.row(search_panel.DATASETS, data)[:4] == [
        "org/d",
        "text-classification",
        "1,200",
        "-",
    ]


def test_progress_step_and_epoch_come_from_the_same_record():
    records = [{"step": 1, "epoch": 0.04, "time": 1.0, "loss": 1.0}]
    status = RunStatus(state="running", step=2, max_steps=125)
    p = {**train_tab.charts.progress(status.to_dict(), records), **train_tab._last_step(records)}
    html = train_tab.progress_html(p, None, status)
    assert "step 2/125 · epoch 0.08" in html


def test_summary_bar_says_what_the_draft_holds():
    groups = [
        {"name": "enc", "kind": "block", "params": 9000},
        {"name": "classifier", "kind": "head", "params": 732},
    ]
    d = Draft(
        model=ModelFacts("org/tiny-bert-uncased", "", groups, 4),
        data=DataFacts("data/support-tickets.csv", None, ["text", "label"], "label", list("abcd")),
        num_labels=4,
        frozen=["enc"],
        preset="head only",
    )
    line = state.summary(d)
    assert line == "tiny-bert-uncased · support-tickets.csv · 4 classes · 732 trainable · ready"
    auto = state.apply_preset(d, "auto (timed at the start)")  # the default: decided at Train
    assert "· freeze auto · ready" in state.summary(auto) and auto.freeze == "auto"
    assert "✓ Model ✓ Data ✓ Head · Train · Results" in wiring.summary_html(d)
    d = state.toggle(d, [])
    assert d.preset == "everything" and "9,732 trainable" in state.summary(d)
    d = state.toggle(d, ["classifier"])  # no preset freezes the head
    assert d.preset == state.CUSTOM and "9,000 trainable" in state.summary(d)
    d = state.toggle(d, ["enc", "classifier"])  # nothing left to train: a problem mark
    assert "✗ Head" in wiring.summary_html(d) and state.summary(d).endswith("not ready")


def test_range_messages_print_whole_numbers_and_page_words():
    try:
        RunConfig.from_dict({"model": "m", "dataset": "d", "epochs": 1500})
    except ConfigError as exc:
        text = str(exc)
    assert text.endswith("at most 1000, not 1500.")
    from finetune_core.ui.form import page_words

    assert page_words(text).startswith('"Epochs" must be')


def test_training_health_warnings_and_run_dates():
    from finetune_core.ui import runs_tab

    status = RunStatus(state="running", step=3, max_steps=9, warnings=["The loss is flat."])
    html = train_tab.progress_html(train_tab.charts.progress(status.to_dict(), []), None, status)
    assert "ft-warn" in html and "The loss is flat." in html
    assert runs_tab._date("2026-12-01T15:03:09+00:00") == "2026-12-01 15:03 UTC"
    assert runs_tab._date(None) == ""


def test_equal_accuracy_and_f1_stay_both_visible():
    from finetune_core import charts

    fig = charts.metrics_figure([{"step": 1, "eval_accuracy": 0.5, "eval_f1_macro": 0.5}])
    acc, f1 = fig.data
    assert (acc.line.dash, f1.line.dash) == (None, "dash") and f1.marker.symbol != acc.marker.symbol


def test_identical_mistakes_are_grouped():
    from finetune_core.ui import results_tab

    same = {"input": "meh", "true": "pos", "predicted": "neg"}
    rows = results_tab.grouped_mistakes(
        [
            {**same, "confidence": 0.7},
            {**same, "confidence": 0.9},
            {"index": 4, "input": None, "true": "a", "predicted": "b", "confidence": 0.5},
        ]
    )
    assert rows == [["meh (×2)", "pos", "neg", "90.0%"], ["#4", "a", "b", "50.0%"]]


def test_a_stopped_run_shows_its_last_evaluation(tmp_path):
    from finetune_core import runs
    from finetune_core.ui import runs_tab

    run = runs.RunDir(tmp_path / "run")
    run.create()
    run.append_line(run.metrics_path, {"step": 5, "epoch": 1.0, "eval_accuracy": 0.75})
    run.append_line(run.metrics_path, {"step": 6, "epoch": 1.2, "loss": 0.3})
    records = runs.read_metrics(run.path)
    assert runs.records.last_eval(records) == {"accuracy": 0.75}
    run.write_json(run.status_path, {"state": "stopped", "started": "2026-01-01T00:00:00Z"})
    rows, _ = runs_tab.table(None, [runs.read_run(run.path, metrics=False)])
    assert rows[0][5] == "0.750"  # what the Runs table shows for it


def test_overlay_by_epoch_or_time():
    from finetune_core import charts

    records = [{"step": 10, "epoch": 0.5, "time": 3.0, "loss": 1.0}]
    for x, expected in (("step", 10), ("epoch", 0.5), ("time", 3.0)):
        fig = charts.overlay_figure({"run": records}, key="loss", x=x)
        assert list(fig.data[0].x) == [expected] and fig.layout.xaxis.title.text == x


def test_report_to_is_a_multi_select_of_the_trackers():
    """Advanced's "Experiment trackers": picked from the list, not typed; the form and a
    config agree both ways."""
    from finetune_core.config import RunConfig
    from finetune_core.config.choices import TRACKERS
    from finetune_core.ui import form

    box = form.widget("report_to")
    assert box.multiselect and [c[1] for c in box.choices] == list(TRACKERS)
    cfg = RunConfig.from_dict({"model": "m", "dataset": "d", "report_to": ["tensorboard"]})
    values = form.to_values(cfg)
    assert values["report_to"] == ["tensorboard"]
    back = RunConfig.from_dict({"model": "m", "dataset": "d", **form.to_data(values)})
    assert back.report_to == ["tensorboard"]
    assert (
        RunConfig.from_dict(
            form.to_data({"report_to": []}) | {"model": "m", "dataset": "d"}
        ).report_to
        == []
    )


def test_a_multi_label_run_shows_its_per_class_counts(tmp_path):
    """eval.json of a multi-label run has per-class counts and no confusion matrix: the
    results show the counts and micro F1, and draw no matrix (this used to raise)."""
    import numpy as np

    from finetune_core import runs
    from finetune_core.train import multilabel_metrics
    from finetune_core.ui import results_tab

    run = runs.RunDir(tmp_path / "tags")
    run.create()
    run.write_json(run.status_path, {"state": "completed"})
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    logits = np.where(labels == 1, 3.0, -3.0)
    logits[0, 1] = 2.0  # one false positive for "b"
    ev = multilabel_metrics.report(logits, labels, ["a", "b", "c"])
    run.write_json(run.eval_path, ev)
    s = results_tab.summary(run.path)
    assert "confusion" not in s and "micro F1" in s["text"]
    assert s["per_class_headers"][-4:] == ["true +", "false +", "false −", "true −"]
    row_b = next(r for r in s["per_class"] if r[0] == "b")
    assert row_b[5:] == [2, 1, 0, 1]


def _ready_draft(**model) -> Draft:
    groups = [
        {"name": "enc", "kind": "block", "params": 9000},
        {"name": "classifier", "kind": "head", "params": 732},
    ]
    facts = {"model_type": "bert", **model}
    return Draft(
        model=ModelFacts("org/tiny-bert", "", groups, 4, **facts),
        data=DataFacts("tickets.csv", None, ["text", "label"], "label", list("abcd"), task="text"),
        num_labels=4,
        frozen=["enc"],
    )


def test_the_summary_bar_runs_trains_checks():
    """Never "ready" for a setup Train refuses; the reason is Train's own sentence, and Train
    refuses with it before queueing anything."""
    from finetune_core.ui import events

    values = {"model": "org/tiny-bert", "dataset": "tickets.csv"}
    cases = {
        "image model, text data": (_ready_draft(model_type="vit"), "cannot classify text"),
        "5 classes on 4-class data": (
            dataclasses.replace(_ready_draft(), num_labels=5),
            "is 5 but label column 'label' has 4 classes",  # in the page's words
        ),
        "nothing trainable": (
            state.toggle(_ready_draft(), ["enc", "classifier"]),
            "nothing would train",
        ),
    }
    assert state.ready(_ready_draft()) and state.problems(_ready_draft()) == []
    for name, (d, sentence) in cases.items():
        assert not state.ready(d), name
        assert state.summary(d).endswith("not ready"), name
        assert sentence in wiring.summary_html(d), name
        _, after, note = events.train("owner-" + "x" * 16, d, values, None)
        assert after.job_id is None and sentence in note, name
    images = dataclasses.replace(
        _ready_draft(),
        data=DataFacts("colors", None, ["image", "label"], "label", list("abcd"), task="image"),
    )
    assert any("is a text model" in p for p in state.problems(images))


def test_a_finished_runs_state_leaves_the_bar_when_the_setup_changes():
    d = dataclasses.replace(
        _ready_draft(),
        job_id="j",
        run="r",
        run_state="completed",
        run_line="done: accuracy 67%",
        run_model="org/tiny-bert",
        run_data="tickets.csv",
    )
    assert state.summary(d).endswith("done: accuracy 67%")
    assert "✓ Train ✓ Results" in wiring.summary_html(d)
    other = dataclasses.replace(d.model, id="org/other-bert")
    moved = dataclasses.replace(d, model=other)
    assert state.summary(moved).endswith("· ready") and "done" not in wiring.summary_html(moved)
    running = dataclasses.replace(moved, run_state="running", run_line="training 40%")
    assert state.summary(running).endswith("training 40%")  # a run still going stays shown


def test_a_signed_in_visitor_owns_by_username_in_any_browser():
    from finetune_core.jobs import ownership
    from finetune_core.ui import events
    from finetune_core.ui.common import ensure_owner

    owner, browser = events.identify(None, "alice")
    assert owner == ownership.signed_in("alice") and browser != owner and len(browser) == 32
    assert ensure_owner(owner) == owner  # kept as it is, never replaced by a random key
    again, other_browser = events.identify("f" * 32, "alice")
    assert again == owner and other_browser == "f" * 32
    assert events.identify("f" * 32, None) == ("f" * 32, "f" * 32)  # signed out: the browser's


def test_a_sessions_draft_changes_one_at_a_time():
    """Two events of one page session change the draft at once (a slow model load, and a
    click or the poll meanwhile): the second runs after the first, on its result, so neither
    change is lost; the poll, finding the session busy, skips its turn instead of waiting."""
    import threading
    import time

    from finetune_core.ui.common import serial

    d0 = Draft()
    inside, results = threading.Event(), []

    def slow_load(d):
        inside.set()
        time.sleep(0.3)  # the window in which a click used to be lost
        return dataclasses.replace(d, note="model loaded"), "msg"

    worker = threading.Thread(target=lambda: results.append(serial(slow_load)(d0)))
    worker.start()
    inside.wait(10)
    skipped = serial(lambda d: "polled", busy=lambda d: "busy")(d0)
    clicked = serial(lambda d: dataclasses.replace(d, last_n=3))(d0)  # given the stale draft
    worker.join(10)
    assert skipped == "busy"
    assert clicked.note == "model loaded" and clicked.last_n == 3  # both changes kept
    assert results[0][0].note == "model loaded"
    other = Draft()  # another page load: its own session, never given this one's draft
    assert serial(lambda d: d)(other) is other and other.session != d0.session
    shared = Draft(session="")  # the page's initial value, before its load event: not shared
    assert serial(lambda d: d)(shared) is shared


def test_every_event_that_changes_the_draft_is_serialized():
    """The page as built: each event whose outputs include the session's draft runs through
    the per-session serializer, and answers by component (no output list counted by hand)."""
    import gradio as gr

    from finetune_core.ui.app import build

    demo = build()
    drafts = [
        b._id
        for b in demo.blocks.values()
        if isinstance(b, gr.State) and isinstance(b.value, Draft)
    ]
    assert len(drafts) == 1
    changing = [fn for fn in demo.fns.values() if drafts[0] in [o._id for o in fn.outputs]]
    assert len(changing) > 10
    unserialized = [fn.name for fn in changing if not getattr(fn.fn, "serial", False)]
    assert not unserialized, unserialized


def test_messages_never_show_a_commit_hash():
    """A library error about a dataset can carry its revision: the page drops it."""
    from finetune_core.ui import events

    sha = "0123456789abcdef0123456789abcdef01234567"
    said = [
        events.say(f"Couldn't reach 'org/data' at revision {sha}: no split 'train'."),
        events.say(f"hf://datasets/org/data@{sha}/data/train.csv is broken"),
        events.say(f"Unable to load revision '{sha}' of org/data."),
        events.say(f"Config mismatch ({sha})."),
    ]
    assert not [s for s in said if sha[:7] in s], said
    assert "Couldn't reach 'org/data': no split 'train'." in said[0]
    assert "train.csv is broken" in said[1]


def test_the_resolved_values_are_shown_inert(tmp_path):
    """config.json's values come from the data (label names, columns): Markdown or HTML in them
    shows as written, never as a link or a tag."""
    from finetune_core import runs

    rd = runs.RunDir(tmp_path / "run")
    rd.create()
    runs.RunWriter(rd).queue({"model": "m", "dataset": "d"})
    bad = "[click](javascript:alert(1))"
    rd.write_json(
        rd.config_path,
        {"learning_rate": 0.003, "label_names": [bad, "<b>x</b>"], "label_column": bad},
    )
    text = train_tab.resolved_markdown(runs.read_run(rd.path, metrics=False))
    import re

    assert "**0.003**" in text and "<b>" not in text
    assert not re.search(r"(?<!\\)\]\(javascript", text)  # every "]" escaped: no link
