"""Training health: each warning fires on a run built to trigger it and stays silent on a
healthy one; eval.json reads every result against the majority baseline."""

import json
import math

import pytest
import tiny

from finetune_core import runs
from finetune_core.cli import commands
from finetune_core.config import RunConfig
from finetune_core.train import run as train
from finetune_core.train.evaluation import majority, majority_f1_macro
from finetune_core.train.health import Health

BASE = {"batch_size": 8, "max_length": 16, "logging_steps": 2, "seed": 3, "freeze": "backbone"}
HEALTHY = {"freeze": "none", "learning_rate": 3e-3, "epochs": 6}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny.write_csv(tmp_path_factory.mktemp("health") / "d.csv", tiny.text_rows(150))


def run(tiny_bert, data, out, **extra):
    cfg = RunConfig.from_dict(
        {"model": str(tiny_bert), "dataset": str(data), "output_dir": str(out), **BASE, **extra}
    )
    result = train.run(cfg, release_memory=False)
    status = json.loads((out / "status.json").read_text())
    assert status["warnings"] == result.warnings
    return result, json.loads((out / "eval.json").read_text())


def kinds(warnings):
    found = set()
    for w in warnings:
        found |= {"flat"} if "ln(3)" in w else set()
        found |= {"collapse"} if "every evaluation example was predicted" in w else set()
        found |= {"diverging"} if "rising" in w or "loss became" in w else set()
        found |= {"majority"} if "no better than always predicting" in w else set()
    return found


def test_a_healthy_run_is_silent(tiny_bert, data, tmp_path):
    result, report = run(tiny_bert, data, tmp_path / "ok", **HEALTHY)
    assert result.warnings == [] and report["f1_macro"] > 0.9
    assert report["majority_baseline"] == pytest.approx(1 / 3)


def test_a_run_that_does_not_learn_says_so_and_what_to_try(tiny_bert, data, tmp_path):
    result, report = run(tiny_bert, data, tmp_path / "flat", learning_rate=1e-7, epochs=4)
    assert kinds(result.warnings) == {"flat", "collapse", "majority"}
    assert all("try" in w for w in result.warnings)
    assert report["f1_macro"] <= majority_f1_macro(report["majority_baseline"], 3) + 0.01


def test_a_diverging_run_says_lower_the_learning_rate(tiny_bert, data, tmp_path):
    result, _ = run(tiny_bert, data, tmp_path / "div", freeze="none", learning_rate=0.3, epochs=4)
    assert "diverging" in kinds(result.warnings)
    assert any("learning rate is too high" in w for w in result.warnings)


def test_the_cli_prints_the_warnings(tiny_bert, data, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train", "--model", str(tiny_bert), "--dataset", str(data), "--quiet"]
    args += ["--output-dir", str(out), "--learning-rate", "1e-7", "--epochs", "4"]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in BASE.items()]
    assert commands.main(args) == commands.EXIT_OK
    err = capsys.readouterr().err
    status = runs.read_json(out / "status.json")
    assert status["warnings"] and all(f"warning: {w}" in err for w in status["warnings"])


def test_rules_clear_when_the_run_recovers():
    health = Health(["a", "b", "c"])
    for step in range(1, 13):
        health.on_loss(step, 1.1, max_steps=30)
    assert kinds(health.warnings) == {"flat"}
    assert health.on_eval(12, predicted_classes=1, top_class=2)
    assert "'c'" in health.warnings[-1]
    for step in range(13, 17):
        health.on_loss(step, 0.5, max_steps=30)
    assert health.on_eval(16, predicted_classes=3, top_class=0)
    assert health.warnings == []  # a slow start is not a failure
    assert not health.on_final(0.9, 0.34, "a")


def test_flat_needs_a_fair_number_of_steps_and_previous_warnings_survive_a_resume():
    health = Health(["a", "b"], previous=["said before"])
    for step in range(1, 10):
        health.on_loss(step, 0.69, max_steps=300)
    assert health.warnings == ["said before"]  # 9 steps of 300 is not yet a fair trial
    for step in range(10, 101):
        health.on_loss(step, 0.69, max_steps=300)
    assert len(health.warnings) == 2


def test_flat_on_imbalanced_data_is_measured_against_the_class_frequencies():
    health = Health(["ham", "spam"], priors=[0.87, 0.13])  # SMS spam with the plain loss
    assert health.chance_loss == pytest.approx(0.3864, abs=1e-4)  # not ln 2 = 0.693
    for step in range(1, 31):
        health.on_loss(step, 0.39, max_steps=90)
    assert any("entropy of the class frequencies" in w for w in health.warnings)


def test_majority_baseline_numbers():
    assert majority([87, 13]) == (0.87, 0)
    assert majority([1, 5, 4]) == (0.5, 1)
    # always "ham" on 87% ham: F1 2*.87/1.87 for ham, 0 for spam
    assert majority_f1_macro(0.87, 2) == pytest.approx(0.4652, abs=1e-4)


def test_the_page_shows_the_warnings():
    from finetune_core import charts
    from finetune_core.runs import RunStatus
    from finetune_core.ui import train_tab

    status = RunStatus("completed", step=9, max_steps=9, warnings=["loss <flat>: try x"])
    html = train_tab.progress_html(charts.progress(status.to_dict(), []), None, status)
    assert "ft-warn" in html and "loss &lt;flat&gt;: try x" in html


def test_multi_label_floods_and_silence_are_named():
    health = Health(["a", "b", "c", "d"], multi_label=True)
    assert health.on_label_counts({"true": 1.2, "predicted": 9.0}, 28)
    assert "labels per row" in health.warnings[0] and "threshold" in health.warnings[0]
    assert health.on_label_counts({"true": 1.2, "predicted": 2.0}, 28)  # taken back
    assert health.warnings == []
    assert health.on_label_counts(
        {"true": 1.2, "predicted": 0.3, "rows_without_prediction": 0.7}, 28
    )
    assert "no label at all for 70%" in health.warnings[0]


def test_a_swinging_weighted_loss_is_not_called_diverging():
    """A weighted multi-label loss dips on easy batches and swings back, below where it
    started; a real divergence climbs above its start."""
    swinging = Health(["a", "b"], multi_label=True)
    for step, loss in enumerate([3.0, 2.9, 2.8, 0.5, 0.6, 0.5, 1.3, 1.4, 1.2], 1):
        swinging.on_loss(step, loss, 100)
    assert not any("rising" in w for w in swinging.warnings)
    rising = Health(["a", "b"], multi_label=True)
    for step, loss in enumerate([1.0, 1.0, 1.0, 0.8, 0.7, 2.5, 3.0, 3.5], 1):
        rising.on_loss(step, loss, 100)
    assert any("rising" in w for w in rising.warnings)


def test_a_weighted_multi_label_loss_is_flat_against_its_own_chance():
    """28 rare labels with positives weighted: a constant answer costs about 2 ln 2 per label,
    so a loss that fell from there to 0.73 is learning (it was once called 'about ln 2')."""
    rates, names = [0.04] * 28, [f"l{i}" for i in range(28)]
    weighted = Health(names, multi_label=True, label_rates=rates, weighted=True)
    assert weighted.chance_loss == pytest.approx(2 * 0.96 * math.log(2))
    for step, loss in enumerate([1.33, 1.3, 1.2, 1.0, 0.8, 0.74, 0.73, 0.73, 0.73], 1):
        weighted.on_loss(step * 20, loss, 300)
    assert weighted.warnings == []
    stuck = Health(names, multi_label=True, label_rates=rates, weighted=True)
    for step in range(1, 10):
        stuck.on_loss(step * 20, 1.32, 300)
    assert any("not learning" in w and "constant answer" in w for w in stuck.warnings)
    # the plain loss: a label's binary entropy, far below ln 2 for a rare label
    plain = Health(["a", "b"], multi_label=True, label_rates=[0.04, 0.5])
    entropy = -(0.04 * math.log(0.04) + 0.96 * math.log(0.96))
    assert plain.chance_loss == pytest.approx((entropy + math.log(2)) / 2)


def test_a_final_score_well_above_the_majority_takes_back_not_learning():
    """A short run whose loss stayed near chance can still predict well: the final evaluation
    decides. A score barely above the majority's leaves the warning said."""
    for final, still_flat in ((0.98, False), (0.4, True)):
        health = Health(["a", "b"], multi_label=True, label_rates=[0.5, 0.5], weighted=True)
        for step in range(1, 13):
            health.on_loss(step, 0.68, max_steps=30)
        assert any("not learning" in w for w in health.warnings)
        health.on_final(final, 0.34, "a")
        assert any("not learning" in w for w in health.warnings) is still_flat, health.warnings
