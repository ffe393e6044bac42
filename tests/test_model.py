"""Layer groups (generic across architectures) and the freeze plan."""

import pytest
import torch

from finetune_core import model as m
from finetune_core.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def bert(tiny_bert):
    return m.load_model(str(tiny_bert), 3, task="text")


def test_bert_groups_cover_every_parameter_once(bert):
    groups = m.layer_groups(bert)
    assert [g.name for g in groups] == [
        "bert.embeddings",
        "bert.encoder.layer.0",
        "bert.encoder.layer.1",
        "bert.pooler",
        "classifier",
    ]
    assert [g.kind for g in groups] == ["embeddings", "block", "block", "other", "head"]
    assert sum(g.params for g in groups) == sum(p.numel() for p in bert.parameters())
    assert groups[-1].params == 32 * 3 + 3  # the new 3-class head


def test_vit_groups(tiny_vit):
    vit = m.load_model(str(tiny_vit), 2, task="image")
    groups = m.layer_groups(vit)
    kinds = {g.name: g.kind for g in groups}
    assert kinds["vit.embeddings"] == "embeddings"
    assert sum(1 for k in kinds.values() if k == "block") == 2
    assert kinds["vit.layernorm"] == "norm" and kinds["classifier"] == "head"
    assert sum(g.params for g in groups) == sum(p.numel() for p in vit.parameters())


def test_existing_head_of_another_size_is_replaced(tmp_path):
    import tiny

    path = tiny.make_bert(tmp_path / "with-head", num_labels=5)
    model = m.load_model(str(path), 3, task="text", label_names=["a", "b", "c"])
    assert model.classifier.out_features == 3
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}


def test_freeze_backbone_pins_eval_and_drops_grads(bert):
    groups = m.layer_groups(bert)
    frozen = m.resolve_freeze("backbone", groups)
    assert frozen == [g.name for g in groups if g.kind != "head"]
    m.apply_freeze(bert, frozen)
    bert.train()  # what the Trainer does every step
    assert not bert.bert.encoder.layer[0].training and bert.classifier.training
    trainable = {n for n, p in bert.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    summary = m.summarize(bert, "x", "text", frozen)
    assert summary.trainable_params == 32 * 3 + 3


def test_freeze_errors(bert):
    groups = m.layer_groups(bert)
    with pytest.raises(ConfigError, match="unknown layer group.*bert.nope"):
        m.resolve_freeze(["bert.nope"], groups)
    with pytest.raises(ConfigError, match="leaves nothing trainable"):
        m.resolve_freeze([g.name for g in groups], groups)


def test_inspect_builds_on_meta_without_weights(tiny_bert):
    summary = m.inspect_model(str(tiny_bert), num_labels=4)
    assert summary.groups[-1].params == 32 * 4 + 4
    assert summary.task == "text"


def test_task_mismatch_and_bad_sources(tiny_bert, tiny_vit, tmp_path):
    with pytest.raises(ModelError, match="text model"):
        m.infer_task(m.load_config(str(tiny_bert)), "image")
    with pytest.raises(ModelError, match="cannot classify text"):
        m.infer_task(m.load_config(str(tiny_vit)), "text")
    with pytest.raises(ModelError, match="not a model folder"):
        m.load_config(str(tmp_path))
    with pytest.raises(ModelError, match="No model given"):
        m.load_config("  ")


def test_remote_code_is_off_unless_the_host_allows_it(tmp_path, monkeypatch):
    import json

    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "custom-thing", "auto_map": {"AutoConfig": "conf.CustomConfig"}})
    )
    monkeypatch.delenv("FINETUNE_ALLOW_REMOTE_CODE", raising=False)
    assert not m.remote_code_allowed()
    with pytest.raises(ModelError, match="needs custom code.*FINETUNE_ALLOW_REMOTE_CODE=1"):
        m.load_config(str(tmp_path))


def test_seeded_head_is_reproducible(tiny_bert):
    from transformers import set_seed

    heads = []
    for _ in range(2):
        set_seed(3)
        heads.append(m.load_model(str(tiny_bert), 2, task="text").classifier.weight.detach())
    assert torch.equal(heads[0], heads[1])
