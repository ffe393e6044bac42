"""RunConfig: defaults, file formats, the CLI line and one clear message per bad value."""

import pytest

from finetune_core.config import RunConfig
from finetune_core.errors import ConfigError

BASE = {"model": "org/m", "dataset": "org/d"}

BAD_VALUES = [
    ({"modle": "x"}, "Unknown config key 'modle' (did you mean 'model'?)"),
    ({"learning_rate": -1}, "learning_rate must be greater than 0"),
    ({"learning_rate": 0}, "learning_rate must be greater than 0"),
    ({"learning_rate": "fast"}, "learning_rate must be a number, not 'fast'"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"batch_size": 2.5}, "batch_size must be a whole number"),
    ({"epochs": 10**6}, "epochs must be greater than 0 and at most 1000"),
    ({"num_labels": 1}, "num_labels must be at least 2"),
    ({"num_labels": 10**7}, "num_labels must be at least 2 and at most 100000"),
    ({"freeze": [1, 2]}, "freeze list must hold layer-group names"),
    ({"device": "tpu"}, "device must be one of auto, cpu, cuda, mps"),
    ({"validation_fraction": 0}, "validation_fraction must be greater than 0"),
    ({"model": ""}, "No model given"),
    ({"dataset": None}, "No dataset given"),
    ({"feature_cache": "maybe"}, "feature_cache must be true or false"),
]


@pytest.mark.parametrize(("change", "message"), BAD_VALUES)
def test_bad_values_have_one_clear_message(change, message):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict({**BASE, **change})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_match_the_contract():
    cfg = RunConfig.from_dict(BASE)
    assert cfg.freeze == "auto" and cfg.class_weight == "balanced" and cfg.keep_best
    assert cfg.train_split == "train" and cfg.eval_split is None
    assert cfg.validation_fraction == 0.1 and cfg.logging_steps == 5
    assert (cfg.save_steps, cfg.save_total_limit) == (50, 2)
    assert cfg.device == "auto" and cfg.output_dir is None


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_round_trip_through_files(tmp_path, suffix):
    cfg = RunConfig.from_dict({**BASE, "freeze": ["a.b", "c"], "epochs": 2, "num_labels": 4})
    path = tmp_path / f"run{suffix}"
    cfg.save(path)
    assert RunConfig.load(path) == cfg


def test_strings_from_the_command_line_are_coerced():
    cfg = RunConfig.from_dict(
        {
            **BASE,
            "epochs": "2",
            "learning_rate": "1e-3",
            "freeze": "a,b",
            "max_train_samples": "null",
        }
    )
    assert cfg.epochs == 2.0 and cfg.learning_rate == 1e-3
    assert cfg.freeze == ["a", "b"] and cfg.max_train_samples is None


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        RunConfig.load(path)
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        RunConfig.load(path)


def test_cli_flags_reproduce_the_config():
    from finetune_core.cli.commands import build_parser

    cfg = RunConfig.from_dict({**BASE, "epochs": 2, "freeze": ["x.y", "z"], "seed": 7})
    argv = cfg.cli_flags().split()[1:]
    args = build_parser().parse_args(argv)
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}
    assert RunConfig.from_dict(overrides) == cfg


def test_no_token_field():
    assert not any("token" in key for key in RunConfig().to_dict())


# ---- immutability, the resolved config, the learning-rate rule ----------------------------
def test_a_validated_config_cannot_be_changed_only_replaced():
    import dataclasses

    cfg = RunConfig.from_dict(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 0  # would skip validation
    assert dataclasses.replace(cfg, epochs=2.0).epochs == 2.0 and cfg.epochs == 3.0
    with pytest.raises(ConfigError, match="epochs must be greater than 0"):
        cfg.with_overrides({"epochs": 0})  # overrides are validated like everything else


def test_resolved_config_holds_what_the_run_detected_and_the_request_is_untouched():
    from finetune_core.config import ResolvedRun

    cfg = RunConfig.from_dict(BASE)
    found = ResolvedRun("text", None, "label", ("neg", "pos"), "text", 1e-3, ("bert.embeddings",))
    resolved = cfg.resolved(found)
    assert (resolved.text_column, resolved.label_column, resolved.task) == ("text", "label", "text")
    assert resolved.num_labels == 2 and resolved.label_names == ["neg", "pos"]
    assert resolved.learning_rate == 1e-3
    assert cfg.num_labels is None and cfg.label_names is None and cfg.learning_rate is None
    # config.json reads back into the same config (what --resume does)
    assert RunConfig.from_dict(resolved.to_dict()) == resolved


def test_the_learning_rate_rule_lives_in_one_place():
    from finetune_core.config import LEARNING_RATE_RULE, learning_rate_for

    assert learning_rate_for(None, 0.05) == 1e-3  # mostly frozen: the new head learns fast
    assert learning_rate_for(None, 0.2) == 5e-5  # a fifth or more trains: fine-tuning rate
    assert learning_rate_for(3e-4, 0.05) == 3e-4  # an explicit rate always wins
    assert "0.001" in LEARNING_RATE_RULE and "5e-05" in LEARNING_RATE_RULE


# ---- coercion by the declared type; short messages ------------------------------------------
def test_coercion_follows_the_declared_type_however_it_is_spelled():
    from typing import Optional

    from finetune_core.config import coerce

    assert coerce("x", "3", Optional[int]) == 3  # noqa: UP045 - the spelling is the point
    assert coerce("x", "3", None | int) == 3  # str(type) starts with "None", not "int"
    assert coerce("x", "0.5", float | None) == 0.5
    assert coerce("x", "null", None | int) is None
    assert coerce("x", "yes", bool) is True
    assert coerce("x", "a, b", list[str] | None) == ["a", "b"]
    with pytest.raises(ConfigError, match="x must be a whole number"):
        coerce("x", "2.5", None | int)


def _alias_bomb():
    """What YAML aliases expand to: nested shared lists, 10**9 items when printed."""
    value = ["lol"] * 10
    for _ in range(8):
        value = [value] * 10
    return value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", _alias_bomb()),
        ("label_names", _alias_bomb()),
        ("freeze", _alias_bomb()),
        ("feature_cache", _alias_bomb()),
        ("model", _alias_bomb()),
        ("device", "x" * 1_000_000),
        ("batch_size", 10**5000),  # too long even to print: Python refuses over 4300 digits
        ("seed", -(10**40)),
        ("learning_rate", "9" * 100_000),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else type(v).__name__,
)
def test_huge_values_are_refused_with_a_short_message(key, value):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict({**BASE, key: value})
    text = str(err.value)
    assert text.startswith(key) or key in text[:60]
    assert len(text) < 200 and "\n" not in text
