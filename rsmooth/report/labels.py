"""What a configuration is: its identity (for grouping trials) and its readable method name.

Both are derived from the registries (rsmooth.registry): each part declares the config fields
it reads. A configuration is a run config without its seed and without the engine fields that
do not change the maths; fields that no chosen part reads (the smoothing scale b of an SGD
run, the SAM radius of a plain step, ...) are blanked, so runs that differ only there are one
configuration, and a part registered tomorrow with its own field is told apart by that field
without a line changed here.
"""

from __future__ import annotations

import functools
import json
import string
from typing import Any

from rsmooth.config import ENGINE_FIELDS, EXTRA_FIELDS, RunConfig, field_info, field_names
from rsmooth.registry import Registry, load_parts

IDENTITY_EXCLUDED = ("seed", *ENGINE_FIELDS)
# Options of the loss part that are regularizers in their own right: spelled in the label
# (with the field's short name) when they are on.
# (None: the field text alone, e.g. ``flood=0.02``.)
LOSS_OPTIONS: dict[str, str | None] = {"label_smoothing": "label-smoothing", "flood": None}


@functools.cache
def _registries() -> dict[str, Registry]:
    return load_parts()


def part_fields(config: dict[str, Any]) -> set[str]:
    """The fields read by the parts this configuration chose."""
    used: set[str] = set()
    for selector, registry in _registries().items():
        used.update(registry.fields(str(config.get(selector))))
    return used


def normalize(config: dict[str, Any]) -> dict[str, Any]:
    """The config as a configuration: seed and engine fields dropped, fields that no chosen
    part reads set to None. A field no registered part declares is always kept."""
    cfg = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDED}
    for name, spec in EXTRA_FIELDS.items():  # config.yaml leaves out a declared field at its
        cfg.setdefault(name, spec.default)  # default: the same configuration either way
    declared = set().union(*(r.declared_fields() for r in _registries().values()))
    used = part_fields(config)
    unknown_part = any(
        config.get(selector) is not None and str(config.get(selector)) not in registry
        for selector, registry in _registries().items()
    )
    if unknown_part:
        return cfg  # a part of a plugin not loaded here: keep every field, never merge wrongly
    for name in declared - used:
        if name in cfg:
            cfg[name] = None
    return cfg


def config_key(config: dict[str, Any]) -> str:
    """A hashable identity of the configuration (equal for the trials of one configuration)."""
    return json.dumps(normalize(config), sort_keys=True, default=str)


def fmt(value: Any) -> str:
    """A number as a short, exact-enough string (0.001 -> 0.001, 1e-05 -> 1e-05, 1.0 -> 1)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_DEFAULTS = RunConfig().to_dict()


def _field_text(name: str, value: Any) -> str | None:
    """``short=value`` for a label; a bool shows its short name when it differs from the
    default (``normalized``, ``kappa-grad``); an empty short name shows the value alone."""
    info = field_info(name)
    short = info["short"] if info["short"] is not None else name
    default = RunConfig().get(name)  # not _DEFAULTS: a plugin loaded since has its own
    if isinstance(value, bool):
        return short if value != default else None
    if info.get("label") == "changed" and value == default:
        return None
    return fmt(value) if short == "" else f"{short}={fmt(value)}"


def _labelled(config: dict[str, Any]) -> list[tuple[Registry, str]]:
    """The regularizer parts this configuration chose (not the default, not off)."""
    chosen = []
    for selector, registry in _registries().items():
        value = config.get(selector)
        if registry.labelled and value is not None and value != _DEFAULTS.get(selector):
            chosen.append((registry, str(value)))
    return chosen


def is_plain(config: dict[str, Any]) -> bool:
    """No regularizer on top of the optimizer: the baseline of the paper's tables."""
    options_off = all(config.get(name) in (None, 0, 0.0) for name in LOSS_OPTIONS)
    return options_off and not _labelled(config)


def is_smoothing_only(config: dict[str, Any]) -> bool:
    """SGD with residual smoothing and no other regularizer: the paper's method (Tables 1-3)."""
    return (
        config.get("optimizer") == "sgd"
        and config.get("anneal") is not None
        and is_plain(dict(config, anneal=None))
    )


def method_label(config: dict[str, Any], values: bool = True) -> str:
    """A readable method name, e.g. ``sgd + smoothing laplace global+local b=0.5 alpha=1``:
    the optimizer (and a non-default base loss), the loss options that are on, then every
    regularizer part with the fields it declares. With ``values=False`` the field values are
    left out: the *kind* of method, which the plots use for their columns and legends."""
    head = str(config.get("optimizer"))
    if config.get("loss") not in (None, _DEFAULTS["loss"]):
        head += f" ({config['loss']})"
    parts = [head]
    for name, title in LOSS_OPTIONS.items():
        if config.get(name) not in (None, 0, 0.0):
            text = _field_text(name, config[name]) if values or title is None else None
            parts.append(" ".join(t for t in (title, text) if t))
    for registry, name in _labelled(config):
        title, in_title = _title(registry.title(name), config)
        words = [title]
        if values:
            for field in registry.fields(name):
                if field in in_title or config.get(field) is None:
                    continue
                text = _field_text(field, config[field])
                if text is not None:
                    words.append(text)
        parts.append(" ".join(words))
    return " + ".join(parts)


def _title(template: str, config: dict[str, Any]) -> tuple[str, set[str]]:
    """A registered title with its ``{field}`` placeholders filled from the config (a field
    shown in the title is not repeated as ``field=value``)."""
    used = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    filled = template.format_map(
        {f: fmt(config.get(f)) if config.get(f) is not None else "" for f in used}
    )
    return " ".join(filled.split()), used


def method_kind(config: dict[str, Any]) -> str:
    """The method without its grid values: what one column of Figs. 5-6 shows."""
    return method_label(config, values=False)


def short_kind(kind: str) -> str:
    """A kind without the implied ``sgd + `` prefix: ``smoothing laplace``."""
    return kind.removeprefix("sgd + ")


def setting_fields() -> list[str]:
    """Fields a label does not spell (the setting: model, data, lr, weight decay, ...): the
    report shows those that vary across its rows as columns."""
    spelled = set(LOSS_OPTIONS) | {"optimizer", "loss"}
    for selector, registry in _registries().items():
        if registry.labelled:
            spelled |= {selector} | registry.declared_fields()
    return [n for n in field_names() if n not in spelled and n not in IDENTITY_EXCLUDED]
