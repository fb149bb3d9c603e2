"""RunConfig: defaults from the paper, one validation before any work, YAML round trip."""

import pytest
import yaml

from rsmooth.config import EXTRA_FIELDS, RunConfig
from rsmooth.errors import ConfigError
from rsmooth.parts import config_from_yaml, resolve


def test_paper_defaults_per_dataset():
    fm = resolve(RunConfig())
    assert (fm.epochs, fm.lr, fm.batch_size, fm.momentum) == (48, 0.1, 128, 0.9)
    assert fm.weight_decay == 1e-3
    assert resolve(RunConfig(data="cifar10")).epochs == 160
    assert resolve(RunConfig(data="cifar100")).weight_decay == 1e-4
    assert resolve(RunConfig(data="svhn")).epochs == 100
    assert resolve(RunConfig(optimizer="adam")).lr == 1e-3
    assert resolve(RunConfig(optimizer="adagrad")).lr == 1e-2
    assert resolve(RunConfig(optimizer="adamw")).weight_decay == 1e-2


def test_smoothing_scheme_defaults():
    gl = resolve(RunConfig(anneal="logistic"))
    assert (gl.scheme, gl.alpha) == ("global+local", 1.0)
    g = resolve(RunConfig(anneal="laplace", scheme="global"))
    assert g.alpha == 0.0
    local = resolve(RunConfig(anneal="constant"))
    assert local.scheme == "local"
    assert resolve(RunConfig()).scheme is None


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"model": "resnet21"}, "model"),
        ({"data": "mnist"}, "data"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"loss": "hinge"}, "loss"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"step_rule": "sam2"}, "step_rule"),
        ({"grad_transform": "gc"}, "grad_transform"),
        ({"anneal": "gauss"}, "anneal"),
        ({"anneal": "laplace", "scheme": "both"}, "scheme"),
        ({"anneal": "laplace", "scheme": "global", "alpha": 1.0}, "alpha"),
        ({"anneal": "laplace", "scheme": "local"}, "scheme"),
        ({"anneal": "laplace", "loss": "ce"}, "loss"),
        ({"alpha": 1.0}, "alpha"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"subset": 0.0}, "subset"),
        ({"subset": 1.5}, "subset"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"anneal": "logistic", "b": 0.0}, "b"),
        ({"anneal": "logistic", "mu": 1.5}, "mu"),
        ({"anneal": "constant", "s0": 2.0}, "s0"),
        ({"device": "tpu"}, "device"),
        ({"precision": "fp16"}, "precision"),
        ({"nesterov": True, "optimizer": "adam"}, "nesterov"),
        ({"rho": 0.0}, "rho"),
        ({"gr_eps": 0.0}, "gr_eps"),
        ({"compile": True, "step_rule": "gr-db"}, "compile"),
        ({"layers": 0}, "layers"),
    ],
)
def test_invalid_values_name_the_field(changes, field):
    with pytest.raises(ConfigError) as err:
        resolve(RunConfig(**changes))
    assert err.value.field == field
    assert "\n" not in str(err.value)
    assert "allowed" in str(err.value)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="resnet20.*resnet56"):
        resolve(RunConfig(model="resnet"))


def test_from_dict_coerces_and_rejects():
    cfg = RunConfig.from_dict({"epochs": "3", "lr": "1e-2", "nesterov": "true", "data-dir": "x"})
    assert (cfg.epochs, cfg.lr, cfg.nesterov, cfg.data_dir) == (3, 0.01, True, "x")
    with pytest.raises(ConfigError, match="config key"):
        RunConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="epochs"):
        RunConfig.from_dict({"epochs": 2.5})
    with pytest.raises(ConfigError, match="lr"):
        RunConfig.from_dict({"lr": "fast"})
    with pytest.raises(ConfigError, match="batch_size"):
        RunConfig.from_dict({"batch_size": None})


def test_yaml_round_trip_is_verbatim(tmp_path):
    cfg = resolve(RunConfig(anneal="laplace", b=0.3, subset=0.5, seed=3))
    path = tmp_path / "config.yaml"
    path.write_text(cfg.to_yaml())
    assert config_from_yaml(path) == cfg
    assert resolve(config_from_yaml(path)) == cfg
    # every field, but those a plugin part declared that sit at their defaults
    builtin = {name for name in RunConfig.field_names() if name not in EXTRA_FIELDS}
    assert set(yaml.safe_load(path.read_text())) == builtin


@pytest.mark.parametrize("text", ["epochs: [1, 2", "- 1\n- 2\n"])
def test_bad_yaml_is_one_line_error(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config_from_yaml(path)
    assert "\n" not in str(err.value)
