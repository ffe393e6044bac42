"""freeze: auto, the one default: the engine decides, the run records it, the page agrees."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import set_seed

from finetune_core import freeze_plan
from finetune_core import model as m
from finetune_core.config import RunConfig
from finetune_core.freeze_plan import HEAD_REASON, plan_freeze
from finetune_core.train import budget
from finetune_core.train import run as train
from finetune_core.ui import freeze_tab


@pytest.fixture(scope="module")
def sentence_bert(tiny_bert, tmp_path_factory):
    """The tiny BERT dressed as a sentence-transformers checkpoint (it ships modules.json)."""
    path = tmp_path_factory.mktemp("st") / "tiny-sentence"
    shutil.copytree(tiny_bert, path)
    (path / "modules.json").write_text('[{"idx": 0, "name": "0", "type": "Transformer"}]')
    return path


def groups_of(source):
    return m.layer_groups(m.load_model(str(source), 3, task="text", meta=True))


def test_the_default_is_auto_everywhere():
    assert RunConfig().freeze == "auto"
    assert RunConfig.from_dict({"model": "x", "dataset": "y", "freeze": "auto"}).freeze == "auto"
    assert "--freeze" not in RunConfig(model="x", dataset="y").cli_flags()


# plan_freeze("auto"): the family rule, used when no step can be timed (the page's estimate)
def test_auto_trains_the_head_only_for_a_plain_checkpoint(tiny_bert):
    plan = plan_freeze("auto", groups_of(tiny_bert), str(tiny_bert))
    assert plan.trainable == ["classifier"] and plan.reason == HEAD_REASON
    assert plan.frozen == m.resolve_freeze("backbone", groups_of(tiny_bert))


def test_auto_trains_the_pooler_of_a_sentence_embedding_checkpoint(sentence_bert):
    plan = plan_freeze("auto", groups_of(sentence_bert), str(sentence_bert))
    assert plan.trainable == ["bert.pooler", "classifier"]
    assert "sentence-embedding" in plan.reason and "pooler" in plan.reason


def test_explicit_settings_keep_their_meaning(sentence_bert):
    groups = groups_of(sentence_bert)
    assert plan_freeze("backbone", groups, str(sentence_bert)).trainable == ["classifier"]
    assert plan_freeze("none", groups, str(sentence_bert)).frozen == []
    assert plan_freeze(["bert.embeddings"], groups).frozen == ["bert.embeddings"]


@pytest.mark.parametrize("which", ["plain", "sentence"])
def test_the_page_default_is_the_engine_plan(which, tiny_bert, sentence_bert):
    """The page sends freeze: auto by default, so the run decides as the CLI does; its boxes
    show the shallowest plan auto may choose."""
    source = str(tiny_bert if which == "plain" else sentence_bert)
    groups = [{"name": g.name, "kind": g.kind, "params": g.params} for g in groups_of(source)]
    preset, note = freeze_tab.default_preset(source, groups)
    assert preset == freeze_tab.AUTO and note == freeze_tab.AUTO_NOTE
    shallowest = freeze_plan.candidates(groups_of(source))[0]
    assert freeze_tab.preset_frozen(groups, preset) == list(shallowest.frozen)
    assert freeze_tab.freeze_value(groups, "auto") == "auto"


def test_candidates_go_from_the_head_to_everything(tiny_bert, sentence_bert):
    groups = groups_of(tiny_bert)
    plans = freeze_plan.candidates(groups)
    assert [p.name for p in plans] == [
        "pooler + head",
        "top block + pooler + head",
        "everything",
    ]
    assert [p.share for p in plans] == [0.0, 0.5, 1.0]
    assert plans[0].frozen == ("bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1")
    assert plans[1].frozen == ("bert.embeddings", "bert.encoder.layer.0")


def test_estimates_grow_with_depth_and_the_deepest_fitting_plan_wins():
    plans = [
        freeze_plan.Candidate("head", ("a", "b"), 0.0),
        freeze_plan.Candidate("top", ("a",), 0.5),
        freeze_plan.Candidate("everything", (), 1.0),
    ]
    costs = budget.Costs(forward=1e-3, step=3e-3, unit="token")
    sizes = budget.Sizes(train=10_000, select=1_000, report=1_000, epochs=3, cached=True)
    times = [budget.estimate(p, costs, sizes) for p in plans]
    assert times == sorted(times) and times[0] > 0
    # the cache pass is the whole forward for the head, half of it for the top half
    assert times[0] == pytest.approx(1e-3 * 12_000)
    uncached = budget.Sizes(train=10_000, select=1_000, report=1_000, epochs=3, cached=False)
    assert budget.estimate(plans[1], costs, uncached) > times[1]  # the prefix runs every epoch
    assert budget.choose(plans, times, times[2]) == 2
    assert budget.choose(plans, times, (times[1] + times[2]) / 2) == 1
    assert budget.choose(plans, times, times[0] / 2) == 0  # nothing fits: the shallowest
    # only the head fits: the top block still trains when it costs at most STRETCH x budget
    assert budget.choose(plans, times, times[1] / budget.STRETCH) == 1
    assert budget.choose(plans, times, times[1] / budget.STRETCH * 0.99) == 0
    assert budget.choose(plans[::2], times[::2], times[2] / budget.STRETCH) == 0  # no block
    assert budget.choose(plans, times, times[1] / budget.STRETCH, stretch=False) == 0  # asked
    assert budget.budget_for(None, 100.0, "cpu") == 400.0
    assert budget.budget_for(None, 1.0, "cpu") == budget.MIN_BUDGET["cpu"]
    assert budget.budget_for(50.0, 100.0, "cuda") == 50.0  # time_budget wins


def auto_run(source, data, out, **extra):
    cfg = RunConfig.from_dict(
        {"model": str(source), "dataset": str(data), "output_dir": str(out)}
        | {"epochs": 1, "batch_size": 8, "max_length": 16, "seed": 3}
        | extra
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    config = json.loads((out / "config.json").read_text())
    status = json.loads((out / "status.json").read_text())
    assert config["freeze"] == "auto" and config["freeze_plan"] == status["freeze_plan"]
    assert RunConfig.from_dict(config).freeze_plan == status["freeze_plan"]  # resumable
    return config["freeze_plan"]


def test_a_run_times_the_plans_and_records_its_choice(sentence_bert, text_csv, tmp_path):
    plan = auto_run(sentence_bert, text_csv, tmp_path / "auto")
    # a tiny model trains whole far within the minimum budget
    assert plan["name"] == "everything" and plan["frozen"] == []
    assert 0 < plan["estimate_s"] <= plan["budget_s"] == budget.MIN_BUDGET["cpu"]
    assert [c["name"] for c in plan["candidates"]][-1] == "everything"
    assert "fits the budget" in plan["reason"] and "time_budget" in plan["reason"]

    tight = auto_run(sentence_bert, text_csv, tmp_path / "tight", time_budget=1e-6)
    assert tight["name"] == "pooler + head" and tight["trainable"] == ["bert.pooler", "classifier"]
    assert "over the budget" in tight["reason"] and tight["budget_s"] == 1e-6


def test_timing_leaves_no_trace_in_the_training(sentence_bert, text_csv, tmp_path):
    """The measured steps draw no randomness and change no weight: the auto run is the run
    given its plan directly, bit for bit."""
    plan = auto_run(sentence_bert, text_csv, tmp_path / "auto", time_budget=1e-6)
    given = tmp_path / "given"
    cfg = RunConfig.from_dict(
        {"model": str(sentence_bert), "dataset": str(text_csv), "output_dir": str(given)}
        | {"epochs": 1, "batch_size": 8, "max_length": 16, "seed": 3, "freeze": plan["frozen"]}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    auto = load_file(str(tmp_path / "auto" / "model" / "model.safetensors"))
    fixed = load_file(str(given / "model" / "model.safetensors"))
    assert all(torch.equal(auto[k], fixed[k]) for k in fixed)
    set_seed(3)
    before = m.load_model(str(sentence_bert), 3, task="text").state_dict()
    pooler, words = "bert.pooler.dense.weight", "bert.embeddings.word_embeddings.weight"
    assert not torch.equal(before[pooler], auto[pooler])
    assert torch.equal(before[words], auto[words])


@pytest.mark.parametrize(("asked", "chosen"), [(None, 1), (40.0, 0)])
def test_a_stretched_plan_says_so(tiny_bert, monkeypatch, asked, chosen):
    """An automatic budget of 40 s (4 forward passes of 10 s) fits only the head; the top block,
    estimated at 45 s, is within STRETCH of it and trains, with a reason that says it is over.
    A budget the user set is never stretched."""
    from types import SimpleNamespace

    estimates = {"pooler + head": 10.0, "top block + pooler + head": 45.0, "everything": 100.0}
    monkeypatch.setattr(budget, "measure", lambda *a, **k: budget.Costs(1e-3, 3e-3, "token"))
    monkeypatch.setattr(budget, "units", lambda split: float(split))
    monkeypatch.setattr(budget, "estimate", lambda plan, costs, sizes: estimates[plan.name])
    plan = budget.plan(
        None,
        groups_of(tiny_bert),
        SimpleNamespace(train=10_000, eval=1_000, report=1_000),
        None,
        epochs=3,
        batch_size=8,
        device="cpu",
        requested_budget=asked,
        cached=True,
        processes=1,
        seed=0,
    )
    assert plan.budget_s == 40.0 and plan.name == list(estimates)[chosen]
    if asked is None:
        assert "a little over the budget of 40 s" in plan.reason and "1.25x" in plan.reason
    else:
        assert "fits the budget of 40 s (time_budget)" in plan.reason
