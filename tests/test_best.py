"""keep_best, early stopping (also across a resume) and class weights on imbalanced data."""

import json
import threading
from dataclasses import replace

import pytest
import tiny
import torch
from safetensors.torch import load_file

from finetune_core import runs
from finetune_core.config import RunConfig
from finetune_core.train import run as train
from finetune_core.train.losses import WeightedCrossEntropy, balanced_weights

# 8 "pos" for each "neg" and "neu": a tiny BERT trained from scratch here first learns only the
# majority, then the rare classes with class weights. 300 rows: 240 train (30 steps an epoch),
# 30 select (keep_best, early stopping) and 30 report (eval.json), data/splits.py
BASE = {"batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3, "freeze": "none"}
BASE |= {"learning_rate": 3e-3, "class_weight": "balanced"}


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    rows = tiny.text_rows(300, classes=("pos",) * 8 + ("neg", "neu"))
    return tiny.write_csv(tmp_path_factory.mktemp("imb") / "d.csv", rows)


def config(tiny_bert, data, out, **extra):
    return RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(data), "output_dir": str(out), **BASE, **extra}
    )


def evals(out):
    return [(r["step"], r["eval_f1_macro"]) for r in runs.read_metrics(out) if "eval_loss" in r]


def best_eval_step(out, skip=()):
    """The step keep_best should pick: the best macro F1, a tie going to the lower eval loss."""
    rows = [r for r in runs.read_metrics(out) if "eval_loss" in r and r["step"] not in skip]
    return max(rows, key=lambda r: (r["eval_f1_macro"], -r["eval_loss"]))["step"]


def test_class_weights_lift_the_rare_classes(tiny_bert, imbalanced, tmp_path):
    """The plain loss first learns only the majority (macro F1 0.30 at the first evaluation);
    with class weights a rare class is already learned there (0.56)."""
    first = {}
    for weight in ("none", "balanced"):
        out = tmp_path / weight
        train.run(config(tiny_bert, imbalanced, out, epochs=2, class_weight=weight))
        first[weight] = evals(out)[0][1]
    assert first["balanced"] > first["none"]
    status = runs.read_json(tmp_path / "balanced" / "status.json")
    assert status["class_weights"][2] < 1 < status["class_weights"][0]  # neg rare, pos common


def test_weighted_loss_is_the_weighted_cross_entropy():
    assert balanced_weights([0, 0, 0, 1], 3) == [4 / 9, 4 / 3, 1.0]
    logits, labels = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 2, 2])
    weights = [0.5, 2.0, 1.0]
    got = WeightedCrossEntropy(weights)({"logits": logits}, labels)
    each = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    w = torch.tensor(weights)[labels]
    assert got.item() == pytest.approx(((each * w).sum() / w.sum()).item(), rel=1e-6)


def patience_ran_out(scores, patience):
    """The step where early stopping should end a run with these (step, score) evaluations:
    a score that is not better than the best so far counts against the patience."""
    best, bad = None, 0
    for step, value in scores:
        if best is None or value > best:
            best, bad = value, 0
        else:
            bad += 1
        if bad >= patience:
            return step
    return None


def test_early_stopping_and_the_best_model_survive_a_resume(tiny_bert, imbalanced, tmp_path):
    out = tmp_path / "run"
    stop = threading.Event()

    def progress(step, max_steps, epoch):
        if step == 40:
            stop.set()

    cfg = config(tiny_bert, imbalanced, out, epochs=8, early_stopping_patience=2)
    assert train.run(cfg, stop_event=stop, on_progress=progress).state == "stopped"
    assert [s for s, _ in evals(out)] == [30, 40]  # a stop evaluates too
    result = train.run(None, resume_dir=out)
    assert result.state == "completed"
    scores = evals(out)
    # the evaluation the stop forced at 40 counts for neither keep_best nor the patience (an
    # uninterrupted run has none); every other one is at an epoch's end
    regular = [(s, f1) for s, f1 in scores if s != 40]
    assert [s for s, _ in regular] == list(range(30, 30 * len(regular) + 1, 30))
    stopped_at = patience_ran_out(regular, 2)
    status = runs.read_json(out / "status.json")
    assert status["step"] == (stopped_at or 240) and status["max_steps"] == 240
    report = json.loads((out / "eval.json").read_text())
    assert report["best_step"] == best_eval_step(out, skip=(40,))
    assert report.get("early_stopped_at") == stopped_at
    # selection saw the selection split only; eval.json reports the untouched report split
    assert report["selection_split"] != report["report_split"]
    assert report["num_examples"] == 30
    saved = load_file(str(out / "model" / "model.safetensors"))
    kept = load_file(str(out / "checkpoints" / "best" / "trainable.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in kept.items() if k in saved)


def test_keep_best_false_keeps_the_last_weights(tiny_bert, imbalanced, tmp_path):
    out = tmp_path / "last"
    train.run(config(tiny_bert, imbalanced, out, epochs=3, keep_best=False))
    report = json.loads((out / "eval.json").read_text())
    assert report["best_step"] is None and evals(out)[-1][0] == 90  # the last step's weights
    assert not (out / "checkpoints" / "best" / "trainable.safetensors").exists()


def test_the_data_card_shows_the_imbalance(imbalanced, text_csv):
    from finetune_core import hub

    card = hub.dataset_card(str(imbalanced))
    assert card.class_counts == {"neg": 30, "neu": 30, "pos": 240}
    assert "'pos' has 80% of the rows" in card.imbalance and "class_weight" in card.imbalance
    assert card.to_dict()["imbalance"] == card.imbalance
    assert hub.dataset_card(str(text_csv)).imbalance is None  # 20 / 20 / 20


def test_metric_for_best_defaults():
    from finetune_core.train.best import metric_name

    cfg = RunConfig(model="m", dataset="d")
    assert (metric_name(cfg), metric_name(cfg, multi_label=True)) == ("f1_macro", "f1_micro")
    cfg = replace(cfg, metric_for_best="f1_micro")
    assert metric_name(cfg) == "accuracy"  # the same number for one label per example
    assert metric_name(replace(cfg, metric_for_best="loss"), multi_label=True) == "loss"


def test_a_tied_score_goes_to_the_lower_eval_loss(tmp_path):
    """Accuracy moves in steps of 1/n on a small evaluation set, so ties are common: the
    earliest of tied evaluations was kept even when it was a near-uniform model."""
    from transformers import TrainerControl, TrainerState

    from finetune_core.train.best import BestCallback

    run = runs.RunDir(tmp_path / "run")
    best = BestCallback(run, "accuracy", keep=False, patience=2)
    state, control = TrainerState(), TrainerControl()
    seen = []
    for step, acc, loss in [(1, 0.67, 1.07), (2, 0.67, 0.50), (3, 0.67, 0.60), (4, 0.5, 0.1)]:
        state.global_step = step
        best.on_evaluate(None, state, control, metrics={"eval_accuracy": acc, "eval_loss": loss})
        seen.append((best.best_step, best.bad_evals))
    # step 2 wins the tie on loss and step 3 (tied, higher loss) does not; step 4 is worse.
    # Patience counts scores only: ties do not reset it
    assert seen == [(1, 0), (2, 1), (2, 2), (2, 3)]
    assert control.should_training_stop
    # a resumed run reads the tie-breaker back from its record
    again = BestCallback(run, "accuracy", keep=False)
    assert (again.best_step, again.best_loss) == (2, 0.5)
