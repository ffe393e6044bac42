"""The page's state under random sequences of user actions (hypothesis stateful testing).

The machine drives the page's own event functions (ui/events.py, ui/state.py) the way the
wiring does: loads that fail (missing, gated, no weights), an unlabeled dataset, class counts
typed well and badly, presets, boxes ticked by hand, Train, Stop, Resume, a re-attach and a
server restart (a registry rebuilt from the runs folder). After every step it checks what the
issues ask: no event raises; every choice list holds its value; the class count and the
trainable figure agree with the engine's own `inspect_model` for the model now chosen; the
summary bar says what the state says; a restart brings the run back, interrupted if it was
going; Resume continues a resumable run in its folder and refuses any other.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import pytest
import tiny
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from finetune_core import runs
from finetune_core.jobs import manager as manager_mod
from finetune_core.jobs import restore
from finetune_core.jobs.manager import JobManager
from finetune_core.model import inspect_model
from finetune_core.ui import (
    data_tab,
    events,
    queued,
    results_tab,
    runs_tab,
    state,
    train_tab,
    wiring,
)
from finetune_core.ui.freeze_tab import CUSTOM, PRESETS
from finetune_core.ui.state import Draft

GOOD_MODEL = "state-org/tiny-bert"
MISSING_MODEL = "state-org/missing-model"
GATED_MODEL = "state-org/gated-bert"
NO_WEIGHTS = "state-org/no-weights"
NUM_TEXTS = ["", "2", "3", "5", "1", "0", "abc", "2.5", " 4 "]
_INSPECT: dict[tuple[str, int], object] = {}
PAGE_MAX_LENGTH = 128  # the form's default; the tiny models read at most 64 tokens
DEAD_PID = 2**22 + 12345  # above the kernel's pid limit: never a live process


def engine_summary(model: str, n: int):
    if (model, n) not in _INSPECT:
        _INSPECT[(model, n)] = inspect_model(model, num_labels=n)
    return _INSPECT[(model, n)]


def engine_groups(model: str, n: int) -> list:
    return engine_summary(model, n).groups


@pytest.fixture(scope="module")
def world(fake_hub, tiny_bert, text_csv, tmp_path_factory):
    fake_hub.add_model(GOOD_MODEL, tiny_bert, pipeline_tag="fill-mask")
    fake_hub.add_model(GATED_MODEL, tiny_bert, pipeline_tag="fill-mask", gated=True)
    bare = tmp_path_factory.mktemp("no-weights")
    shutil.copytree(tiny_bert, bare, dirs_exist_ok=True)
    for weights in bare.glob("*.safetensors"):
        weights.unlink()
    fake_hub.add_model(NO_WEIGHTS, bare, pipeline_tag="fill-mask")
    unlabeled = tiny.write_csv(
        tmp_path_factory.mktemp("nolabel") / "notes.csv",
        [{"text": r["text"]} for r in tiny.text_rows(20)],
    )
    return {
        "models": [GOOD_MODEL, str(tiny_bert), MISSING_MODEL, GATED_MODEL, NO_WEIGHTS, ""],
        "datasets": [str(text_csv), str(unlabeled), "state-org/missing-data", ""],
        "labels": {str(text_csv): 3, str(unlabeled): None},
    }


class Page(RuleBasedStateMachine):
    """The draft plus a model of what it should hold, checked after every step."""

    world: ClassVar[dict] = {}
    owner = "state-machine-owner-0123456789ab"
    trained = False

    @initialize()
    def fresh(self):
        self.d = Draft()
        self.good_model: str | None = None
        self.good_data: str | None = None
        self.expect_n: int | None = None
        self.view: data_tab.CardView | None = None
        self.boxes = {"model": "", "dataset": "", "max_length": PAGE_MAX_LENGTH}

    # ---- actions -----------------------------------------------------------------------
    @rule(i=st.integers(0, 5))
    def use_model(self, i):
        model = self.world["models"][i]
        self.boxes["model"] = model
        self.d, msg = events.load_model(self.d, model, None)
        before = self.boxes["max_length"]
        self.boxes["max_length"], msg = events.fit_max_length(self.d, before, msg)
        limit = self.d.model.max_tokens if self.d.model else None
        if limit is not None and before > limit:  # lowered to the limit, and said so
            assert self.boxes["max_length"] == limit and f"Max length set to {limit}" in msg
        else:
            assert self.boxes["max_length"] == before and "Max length set" not in msg
        if model in (GOOD_MODEL, self.world["models"][1]):
            assert "ft-error" not in msg, msg
            self.good_model = model
        else:
            assert "ft-error" in msg, f"a failed load of {model!r} said nothing"

    @rule(i=st.integers(0, 3))
    def use_data(self, i):
        source = self.world["datasets"][i]
        self.boxes["dataset"] = source
        self.d, card, msg = events.load_data(self.d, source, None, None)
        if source in self.world["labels"]:
            assert card is not None, msg
            self.good_data, self.view = source, data_tab.card_view(card)
            self.expect_n = self.world["labels"][source]
        else:
            assert card is None and "ft-error" in msg

    @rule(length=st.sampled_from([16, 64, 128, 512]))
    def type_max_length(self, length):
        """A length typed by hand stays as typed; Train then takes it or refuses it."""
        self.boxes["max_length"] = length

    @rule(text=st.sampled_from(NUM_TEXTS))
    def type_classes(self, text):
        self.d, msg = events.set_num_labels(self.d, text, None)
        raw = text.strip()
        if not raw:
            self.expect_n = self.world["labels"].get(self.good_data) if self.good_data else None
        elif raw.isdigit() and int(raw) >= 2:
            self.expect_n = int(raw)
        else:
            assert "Output classes must be" in msg

    @rule(preset=st.sampled_from([*PRESETS, CUSTOM]), n=st.integers(1, 3))
    def pick_preset(self, preset, n):
        before = list(self.d.frozen)
        self.d = state.apply_preset(self.d, preset, n)
        if preset == CUSTOM:
            assert self.d.frozen == before

    @rule(data=st.data())
    def tick_boxes(self, data):
        names = [g["name"] for g in self.d.groups] + ["not-a-group"]
        chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
        self.d = state.toggle(self.d, chosen)
        if self.d.preset != CUSTOM:  # a preset is shown only when the boxes are exactly it
            assert state.apply_preset(self.d, self.d.preset, self.d.last_n).frozen == self.d.frozen

    @rule(i=st.integers(0, 1))
    def use_a_good_pair(self, i):
        """What most people do first: a model that loads and a labelled dataset."""
        self.use_model(i)
        self.use_data(0)

    @precondition(lambda self: not self.trained)  # one job per sequence keeps it fast
    @rule()
    def train(self):
        values = {
            **self.boxes,
            "num_labels": "" if self.expect_n is None else str(self.expect_n),
            "epochs": 1,
            "batch_size": 8,
            "max_train_samples": 8,
            "max_eval_samples": 8,
            "save_steps": 1000,
        }
        before = self.d.job_id
        _, self.d, note = events.train(self.owner, self.d, values, None)
        limit = self.d.model.max_tokens if self.d.model else None
        if limit is not None and self.boxes["max_length"] > limit and self.d.data:
            assert self.d.job_id == before and f"reads at most {limit} tokens" in note
        if self.d.job_id != before:
            assert "Started" in note and self.d.run_line == "queued"
            self.trained = True
            events.MANAGER.stop(self.d.job_id, self.owner)  # keep the machine fast
        else:
            assert "ft-error" in note and "Traceback" not in note

    @precondition(lambda self: not self.trained)
    @rule(i=st.integers(0, 1))
    def train_a_good_pair(self, i):
        """What most people do: a model that loads, a labelled dataset, Train."""
        self.use_a_good_pair(i)
        self.train()  # it starts, or refuses with the reason (a Max length typed too high)

    @rule()
    def stop(self):
        job = events.MANAGER.get(self.d.job_id, self.owner) if self.d.job_id else None
        ended = job is not None and not runs.read_status(job.run_dir).active
        ended = ended and job.state == "finished"
        note = events.train_tab.stop(self.owner, self.d.job_id)
        if job is None:
            assert "No running job of yours" in note
        elif ended:  # Stop after the end says so, never "stopping"
            assert "already ended" in note and "Stopping" not in note
        else:
            assert "Stopping" in note

    def settle(self) -> None:
        """Wait for this machine's jobs to end (a stopped job ends within a step), then read
        where the followed run stands, as the page's poll does."""
        for job in events.MANAGER.jobs_of(self.owner):
            if job.thread is not None:
                job.thread.join(60)
        if self.d.job_id and events.MANAGER.get(self.d.job_id, self.owner):
            job = events.MANAGER.get(self.d.job_id, self.owner)
            view = runs.read_run(job.run_dir, metrics=False)
            self.d = events.follow(self.d, view.status, None, view.eval)

    @precondition(lambda self: self.trained)
    @rule()
    def restart(self):
        """The server dies (kill -9) and comes back: a registry that knows nothing, rebuilt
        from the runs folder; then the page reloads. The run comes back as it was, a run that
        was going comes back interrupted."""
        followed = self.d.run
        going = set()
        for job in events.MANAGER.jobs_of(self.owner):
            if job.state != "finished" or runs.read_status(job.run_dir).active:
                going.add(Path(job.run_dir).name)
            events.MANAGER.stop(job.id, self.owner)
        self.settle()
        for name in going:  # what a kill leaves: "running", held by a process that is gone
            rd = runs.RunDir(runs.runs_root() / name)
            status = runs.RunStatus.from_dict(rd.read_status())
            rd.write_json(rd.status_path, status.with_(state="running", pid=DEAD_PID).to_dict())
        fresh = JobManager(max_concurrent=1)
        for module in (events, train_tab, results_tab, runs_tab, queued, manager_mod):
            module.MANAGER = fresh  # the fixture's monkeypatch puts the original back
        restore.rebuild(fresh)
        self.reattach()
        assert self.d.run == followed  # the same run, found on disk
        if followed in going:
            assert self.d.run_state == "interrupted" and "interrupted" in state.summary(self.d)

    @precondition(lambda self: self.trained)
    @rule()
    def resume(self):
        self.settle()
        before = self.d
        self.d, note = events.resume(self.owner, self.d, None)
        if before.run_state in runs.RESUMABLE:
            assert "Resuming" in note and self.d.run == before.run
            assert self.d.job_id != before.job_id and self.d.run_state == "queued"
            events.MANAGER.stop(self.d.job_id, self.owner)  # keep the machine fast
        else:
            assert self.d.job_id == before.job_id and "ft-error" in note

    @rule()
    def reattach(self):
        """A refresh: the draft comes back from the job, then the page loads its model and
        its dataset (as wiring does after the page-load event)."""
        d, cfg, _ = events.reattach(self.owner)
        if cfg is None:
            assert d == Draft()
            self.fresh()
            return
        self.fresh()
        self.d = d
        self.expect_n = cfg.num_labels
        self.use_model_named(cfg.model)
        self.use_data_named(cfg.dataset)
        assert self.d.model and self.d.model.id == cfg.model

    def use_model_named(self, model):
        self.world["models"].append(model)
        self.use_model(len(self.world["models"]) - 1)
        self.world["models"].pop()

    def use_data_named(self, source):
        self.world["datasets"].append(source)
        self.use_data(len(self.world["datasets"]) - 1)
        self.world["datasets"].pop()

    # ---- invariants ---------------------------------------------------------------------
    @invariant()
    def choices_hold_their_values(self):
        if not hasattr(self, "d"):
            return
        view = state.freeze_view(self.d)
        names = [value for _, value in view["choices"]]
        assert set(view["frozen"]) <= set(names)
        assert view["preset"] in [*PRESETS, CUSTOM]
        if self.view:
            for choices, value in self.view.columns.values():
                assert value in choices

    @invariant()
    def figures_agree_with_the_engine(self):
        if not hasattr(self, "d"):
            return
        d = self.d
        assert (d.model.id if d.model else None) == self.good_model
        assert (d.data.source if d.data else None) == self.good_data
        assert d.num_labels == self.expect_n
        line = state.summary(d)
        if d.model:
            groups = engine_groups(d.model.id, d.num_labels or 2)
            assert [g.name for g in groups] == [g["name"] for g in d.groups]
            frozen = set(d.frozen)
            trainable = sum(g.params for g in groups if g.name not in frozen)
            assert d.trainable == trainable
            # freeze auto is decided when the run starts (timed); else the boxes' count
            shown = "freeze auto" if d.freeze == "auto" else f"{trainable:,} trainable"
            assert shown in line
            assert d.model.id.rsplit("/", 1)[-1] in line
            assert d.model.max_tokens == engine_summary(d.model.id, d.num_labels or 2).max_tokens
        if d.num_labels:
            assert f"{d.num_labels} classes" in line
        assert line in wiring.summary_html(d) or "&" in line


# an owner id as the page issues them (32 hex digits; anything else is replaced). Set here,
# not in the class: hypothesis derives its derandomized sequences from the class's source
Page.owner = "5e11c0de000000000000000000000000"


@pytest.fixture()
def manager(monkeypatch, tmp_path):
    """A registry and a runs folder of this test's own (a server of its own): on a dashboard
    that is not hosted the single user owns every run, so shared ones would hold other tests'
    runs too."""
    monkeypatch.setenv("FINETUNE_RUNS_DIR", str(tmp_path / "runs"))
    fresh = JobManager(max_concurrent=1)
    for module in (events, train_tab, results_tab, runs_tab, queued, manager_mod):
        monkeypatch.setattr(module, "MANAGER", fresh)
    return fresh


def test_random_page_sessions(world, manager):
    Page.world = world
    run_state_machine_as_test(
        Page,
        settings=settings(
            max_examples=30,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,  # the same sequences every run: CI stays reproducible
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    jobs = events.MANAGER.jobs_of(Page.owner)  # the last restart's registry
    for job in jobs:
        events.MANAGER.stop(job.id, Page.owner)
    assert jobs, "no sequence reached a started run: the machine tests too little"


def test_a_failed_load_keeps_the_previous_model(world):
    d, msg = events.load_model(Draft(), GOOD_MODEL, None)
    assert not msg and d.model and d.frozen
    after, msg = events.load_model(d, MISSING_MODEL, None)
    assert after == d and "Still using state-org/tiny-bert" in msg
    after, msg = events.load_model(d, GATED_MODEL, None)
    assert after == d and "gated" in msg.lower()
    assert "Public facts: task fill-mask" in msg  # what the Hub shows without access


def test_a_model_that_reads_fewer_tokens_lowers_max_length(world):
    """The form's default 128 on a model with 64 positions: the field becomes 64 with one
    line, a length within the limit is kept, and Train then starts (the engine's check)."""
    d, msg = events.load_model(Draft(), GOOD_MODEL, None)
    assert d.model.max_tokens == 64
    value, msg = events.fit_max_length(d, 128, msg)
    assert value == 64 and "Max length set to 64: state-org/tiny-bert reads at most 64" in msg
    assert events.fit_max_length(d, 32) == (32, "")
    assert events.fit_max_length(Draft(), 4096) == (4096, "")  # no model yet: nothing to say
