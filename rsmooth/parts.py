"""The wiring above the parts: load them, read a config with its plugins, resolve it.

Layers, bottom up: ``config`` (the schema: fields, types, coercion, YAML; no part) ->
``registry`` (name -> part tables, the parts' resolution hooks) -> the parts (``data``,
``models``, ``methods``; each registers itself and its hooks where it is defined) and the
user's ``plugins`` -> this module. Nothing below imports anything above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rsmooth.config import RunConfig, coerce, load_yaml_mapping
from rsmooth.plugins import load_plugins
from rsmooth.registry import CHECKS, FILLS, REGISTRIES, Registry


def load_parts(plugins: Iterable[str] = ()) -> dict[str, Registry]:
    """Import every built-in part (imports torch), the installed plugins, then the named plugin
    modules in order; returns the registries, by the config field that selects from each."""
    import rsmooth.data  # noqa: F401
    import rsmooth.engine.capture  # noqa: F401  (its rules of cuda_graphs)
    import rsmooth.methods  # noqa: F401
    import rsmooth.models  # noqa: F401

    load_plugins(plugins)  # the installed ones first, then these
    return REGISTRIES


def config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    """``RunConfig.from_dict`` after importing the plugins the values name (their parts'
    fields are keys of the config)."""
    plugins = next((v for k, v in values.items() if str(k) == "plugins"), ())
    load_plugins(coerce("plugins", plugins))
    return RunConfig.from_dict(values)


def config_from_yaml(path: str | Path, **overrides: Any) -> RunConfig:
    """A config file (a YAML mapping of fields), with ``overrides`` on top."""
    values = load_yaml_mapping(path, "config")
    values.update(overrides)
    return config_from_dict(values)


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill defaults and validate every field; returns the config a run uses.

    Every field that selects a part names a registered one; the parts fill their defaults
    (``registry.fills``: the data set's epochs, the optimizer's lr and weight decay, the
    smoothing scheme's alpha), the schema checks every field's range, and the parts check their
    own rules (``registry.checks``: SGD-only Nesterov, smoothing's, compile with gr-db)."""
    registries = load_parts(cfg.plugins)
    for field, registry in registries.items():
        value = cfg.get(field)
        if value is not None or not registry.optional:
            registry.get(value)
    for fill in FILLS:
        changes = fill(cfg)
        if changes:
            cfg = cfg.replace(**changes)
    cfg.check_fields()
    for check in CHECKS:
        check(cfg)
    return cfg
