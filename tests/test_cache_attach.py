"""The feature cache checks itself before it is used: replayed features must give the real
forward pass's logits on the first batch, else the run trains uncached and says why."""

import pytest
import tiny
import torch
from datasets import Dataset

from finetune_core import model as model_mod
from finetune_core.train.cache import attach


def nan_safe_classifier():
    """A BERT classifier whose head reads every token through nan_to_num: the NaN probe sees
    finite logits with the tokens all NaN and judges them unread, which is wrong."""
    from transformers import BertForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    class NanSafe(BertForSequenceClassification):
        def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
            hidden = self.bert(input_ids, attention_mask=attention_mask).last_hidden_state
            logits = self.classifier(torch.nan_to_num(hidden, nan=0.0).mean(1))
            loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
            return SequenceClassifierOutput(loss=loss, logits=logits)

    return NanSafe


def make_trainer(model_dir, out, cls=None):
    from transformers import AutoTokenizer, DataCollatorWithPadding, TrainingArguments, set_seed

    from finetune_core.train.trainer import FinetuneTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = tiny.longtail_rows(48, seed=2)
    labels = {"pos": 0, "neg": 1, "neu": 2}
    data = Dataset.from_dict(
        {"text": [r["text"] for r in rows], "labels": [labels[r["label"]] for r in rows]}
    )
    data = data.map(lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    set_seed(3)
    model = (cls or nan_safe_classifier()).from_pretrained(model_dir, num_labels=3)
    frozen = model_mod.resolve_freeze("backbone", model_mod.layer_groups(model))
    model_mod.apply_freeze(model, frozen)
    args = TrainingArguments(
        str(out),
        num_train_epochs=2,
        per_device_train_batch_size=8,
        learning_rate=5e-3,
        logging_steps=1,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        seed=3,
    )
    trainer = FinetuneTrainer(
        model=model,
        args=args,
        train_dataset=data.select(range(40)),
        eval_dataset=data.select(range(40, 48)),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    return trainer, frozen


def losses(trainer):
    return [r["loss"] for r in trainer.state.log_history if "loss" in r]


@pytest.mark.parametrize("misjudged", [True, False])
def test_self_check_decides_and_a_failed_check_trains_uncached(tiny_bert, tmp_path, misjudged):
    from transformers import BertForSequenceClassification

    cls = None if misjudged else BertForSequenceClassification
    plain, _ = make_trainer(tiny_bert, tmp_path / "plain", cls)
    plain.train()

    trainer, frozen = make_trainer(tiny_bert, tmp_path / "cached", cls)
    attachment = attach.attach(trainer, frozen, folder=tmp_path / "cache")
    if misjudged:
        assert not attachment.on
        assert attachment.note.startswith("off (self-check failed: replayed features give")
        assert not trainer.model._forward_hooks and trainer.train_dataset.__class__ is Dataset
    else:
        assert attachment.on and attachment.note.startswith("on (cut at bert: head only)")
    try:
        trainer.train()
        predicted = trainer.predict(trainer.eval_dataset).predictions
    finally:
        attachment.close()
    assert losses(trainer) == pytest.approx(losses(plain), rel=1e-4, abs=1e-6)
    want = plain.predict(plain.eval_dataset).predictions
    assert predicted == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert not trainer.model._forward_hooks and not trainer.model._forward_pre_hooks
