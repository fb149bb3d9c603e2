"""rsmooth.registry: every part is registered with the config fields it reads; the registries
drive validation, the CLI help, configuration identity and the tests."""

from __future__ import annotations

import pytest

from rsmooth.config import ConfigField, RunConfig, declare_field, field_names
from rsmooth.errors import ConfigError
from rsmooth.parts import load_parts, resolve
from rsmooth.registry import REGISTRIES, Registry

PARTS = load_parts()
ENTRIES = [(field, name) for field, registry in PARTS.items() for name in registry]


def test_every_kind_of_part_has_a_registry():
    assert {"model", "data", "loss", "anneal", "optimizer", "grad_transform", "step_rule"} <= set(
        PARTS
    )
    assert {"lr_schedule"} <= set(PARTS)


@pytest.mark.parametrize(("selector", "name"), ENTRIES)
def test_every_part_declares_real_config_fields(selector, name):
    registry = PARTS[selector]
    assert selector in field_names()
    for field in registry.fields(name):
        assert field in field_names(), f"{selector} {name} declares an unknown field {field}"
    assert registry.title(name)


@pytest.mark.parametrize(("selector", "name"), ENTRIES)
def test_every_registered_name_is_a_valid_config(selector, name):
    changes = {selector: name}
    if selector == "anneal" and name == "constant":
        changes["scheme"] = "local"
    assert resolve(RunConfig(**changes)).get(selector) == name


def test_an_unknown_name_fails_with_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        resolve(RunConfig(step_rule="asam"))
    assert "invalid step_rule: 'asam'" in str(err.value)
    assert all(name in str(err.value) for name in PARTS["step_rule"])


def test_registering_twice_or_a_second_registry_for_a_field_fails():
    registry: Registry[object] = Registry("thing", "test_thing_field")
    try:
        registry.register("a")(object())
        with pytest.raises(ValueError, match="registered twice"):
            registry.register("a")(object())
        with pytest.raises(ValueError, match="two registries"):
            Registry("other", "test_thing_field")
    finally:
        REGISTRIES.pop("test_thing_field")


def test_declared_fields_become_config_fields():
    spec = ConfigField("test_registry_knob", float, 0.5, "a knob of a test part")
    declare_field(spec)
    declare_field(spec)  # the same declaration again (a module imported twice) is fine
    with pytest.raises(ValueError, match="declared twice"):
        declare_field(ConfigField("test_registry_knob", float, 0.7))
    with pytest.raises(ValueError, match="exists already"):
        declare_field(ConfigField("rho", float, 0.1))
    cfg = RunConfig.from_dict({"test_registry_knob": "0.25"})
    assert cfg.get("test_registry_knob") == 0.25
    assert cfg.to_dict()["test_registry_knob"] == 0.25
    assert RunConfig().get("test_registry_knob") == 0.5  # its default
    assert RunConfig() == RunConfig.from_dict({"test_registry_knob": 0.5})  # defaults compare equal
