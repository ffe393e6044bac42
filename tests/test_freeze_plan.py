"""freeze: auto, the one default: the engine decides, the run records it, the page agrees."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import set_seed

from finetune_core import model as m
from finetune_core.config import RunConfig
from finetune_core.freeze_plan import HEAD_REASON, plan_freeze
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
    source = str(tiny_bert if which == "plain" else sentence_bert)
    groups = [{"name": g.name, "kind": g.kind, "params": g.params} for g in groups_of(source)]
    preset, note = freeze_tab.default_preset(source, groups)
    engine = plan_freeze("auto", groups_of(source), source)
    assert sorted(freeze_tab.preset_frozen(groups, preset)) == sorted(engine.frozen)
    assert (note == engine.reason) == (which == "sentence")


def test_a_run_records_the_plan_and_trains_the_pooler(sentence_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    cfg = RunConfig.from_dict(
        {"model": str(sentence_bert), "dataset": str(text_csv), "output_dir": str(out)}
        | {"epochs": 1, "batch_size": 8, "max_length": 16, "seed": 3}
    )
    assert train.run(cfg, release_memory=False).state == "completed"
    config = json.loads((out / "config.json").read_text())
    status = json.loads((out / "status.json").read_text())
    assert config["freeze"] == "auto"
    assert config["freeze_plan"] == status["freeze_plan"]
    assert status["freeze_plan"]["trainable"] == ["bert.pooler", "classifier"]
    assert RunConfig.from_dict(config).freeze_plan == status["freeze_plan"]  # resumable
    set_seed(3)
    before = m.load_model(str(sentence_bert), 3, task="text").state_dict()
    after = load_file(str(out / "model" / "model.safetensors"))
    pooler, words = "bert.pooler.dense.weight", "bert.embeddings.word_embeddings.weight"
    assert not torch.equal(before[pooler], after[pooler])
    assert torch.equal(before[words], after[words])
