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
    assert cfg.freeze == "backbone"
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
