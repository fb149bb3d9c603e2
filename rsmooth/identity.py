"""What a run's method is, computed from the registries: its configuration identity, its name,
its kind and its cost per step, as one JSON-able block (``describe``).

The engine writes ``describe(cfg.to_dict())`` into every run's summary.json under ``method``
(docs/run-folder.md), so the readers of results (report, plot, export) learn a run's method
from its folder without importing torch or the parts; they call this module only for a run
written before the block existed. Importing it is light; computing a block imports the parts
(``load_parts``: torch).

Identity: a configuration is a run config without its seed and without the engine fields that
do not change the maths; fields that no chosen part reads (the smoothing scale b of an SGD
run, the SAM radius of a plain step, ...) are blanked, so runs that differ only there are one
configuration, and a part registered tomorrow with its own field is told apart by that field.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Mapping
from typing import Any

from rsmooth.config import ENGINE_FIELDS, EXTRA_FIELDS, RunConfig, field_info
from rsmooth.registry import Registry

# The version of the block's layout. A reader upgrades a schema-1 block (``upgraded``, no torch)
# and recomputes any other. 2: an untitled loss option's kind no longer spells its value.
METHOD_SCHEMA = 2
IDENTITY_EXCLUDED = ("seed", *ENGINE_FIELDS)
# Options of the loss part that are regularizers in their own right: spelled in the label
# (with the field's short name) when they are on.
# (None: the field text alone, e.g. ``flood=0.02``.)
LOSS_OPTIONS: dict[str, str | None] = {"label_smoothing": "label-smoothing", "flood": None}


@functools.cache
def _registries() -> dict[str, Registry]:
    from rsmooth.parts import load_parts  # imports torch: only when a block is computed

    return load_parts()


def describe(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``method`` block of a run's summary.json, from its resolved config (every field):
    what the readers of results need to group, name, compare and cost the run."""
    identity = normalize(config)
    registries = _registries()
    model, data = str(identity.get("model")), str(identity.get("data"))
    block = {
        "schema": METHOD_SCHEMA,
        "label": method_label(identity),
        "kind": method_kind(identity),
        "identity": identity,
        "regularizers": regularizers(identity),
        "spelled": spelled_fields(),
        "gradient_evaluations_per_step": gradient_evaluations(identity),
        "model": {"name": model, "title": _title_of(registries.get("model"), model)},
        "data": {
            "name": data,
            "title": _title_of(registries.get("data"), data),
            "default_epochs": _default_epochs(registries.get("data"), data),
        },
    }
    # As it reads back from JSON (tuples are lists), so a block computed here for an older run
    # and one read from a newer run's summary.json give one configuration key.
    return json.loads(json.dumps(block, default=str))


def _title_of(registry: Registry | None, name: str) -> str:
    return registry.title(name) if registry is not None else name


def _default_epochs(registry: Registry | None, name: str) -> int | None:
    if registry is None or name not in registry:
        return None
    epochs = getattr(registry.get(name), "default_epochs", None)
    return epochs if isinstance(epochs, int) else None


def gradient_evaluations(config: Mapping[str, Any]) -> int | None:
    """Forward+backward passes per optimizer step of the config's step rule, as the rule
    declares where it registers (``gradient_evaluations``); None for a rule that says
    nothing."""
    registry = _registries().get("step_rule")
    if registry is None:
        return None
    declared = registry.info(str(config.get("step_rule"))).get("gradient_evaluations")
    if isinstance(declared, int) and not isinstance(declared, bool):
        return declared
    return None


# ----------------------------------------------------------------------------- identity
def part_fields(config: Mapping[str, Any]) -> set[str]:
    """The fields read by the parts this configuration chose."""
    used: set[str] = set()
    for selector, registry in _registries().items():
        used.update(registry.fields(str(config.get(selector))))
    return used


def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as a configuration: seed and engine fields dropped, fields that no chosen
    part reads set to None. A field no registered part declares is always kept."""
    cfg = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDED}
    for name, spec in EXTRA_FIELDS.items():  # config.yaml leaves out a declared field at its
        cfg.setdefault(name, spec.default)  # default: the same configuration either way
    registries = _registries()
    declared = set().union(*(r.declared_fields() for r in registries.values()))
    unknown_part = any(
        config.get(selector) is not None and str(config.get(selector)) not in registry
        for selector, registry in registries.items()
    )
    if unknown_part:
        return cfg  # a part of a plugin not loaded here: keep every field, never merge wrongly
    for name in declared - part_fields(config):
        if name in cfg:
            cfg[name] = None
    return cfg


def config_key(config: Mapping[str, Any]) -> str:
    """A hashable identity of a raw config (equal for the trials of one configuration)."""
    return identity_key(normalize(config))


def identity_key(identity: Mapping[str, Any]) -> str:
    """The text that two configurations share exactly when they are one. A field that is None
    (read by no chosen part) is left out, as one a block written by an older rsmooth does not
    have: the same configuration either way."""
    present = {name: value for name, value in identity.items() if value is not None}
    return json.dumps(present, sort_keys=True, default=str)


# ----------------------------------------------------------------------------- names
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


def _labelled(config: Mapping[str, Any]) -> list[tuple[str, Registry, str]]:
    """The regularizer parts this configuration chose (not the default, not off), as
    (selecting field, registry, part name)."""
    chosen = []
    for selector, registry in _registries().items():
        value = config.get(selector)
        if registry.labelled and value is not None and value != _DEFAULTS.get(selector):
            chosen.append((selector, registry, str(value)))
    return chosen


def regularizers(config: Mapping[str, Any]) -> list[str]:
    """The fields of the regularizers that are on: the loss options (``label_smoothing``,
    ``flood``) and the selecting fields of the regularizer parts chosen (``anneal``, ...)."""
    options = [name for name in LOSS_OPTIONS if config.get(name) not in (None, 0, 0.0)]
    return options + [selector for selector, _, _ in _labelled(config)]


def method_label(config: Mapping[str, Any], values: bool = True) -> str:
    """A readable method name, e.g. ``sgd + smoothing laplace global+local b=0.5 alpha=1``:
    the optimizer (and a non-default base loss), the loss options that are on, then every
    regularizer part with the fields it declares. With ``values=False`` the field values are
    left out: the *kind* of method, which the plots use for their columns and legends."""
    head = str(config.get("optimizer"))
    if config.get("loss") not in (None, _DEFAULTS["loss"]):
        head += f" ({config['loss']})"
    parts = [head]
    for name in LOSS_OPTIONS:
        if config.get(name) not in (None, 0, 0.0):
            parts.append(_loss_option_text(name, config[name], values))
    for _, registry, name in _labelled(config):
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


def _loss_option_text(name: str, value: Any, values: bool) -> str:
    """A loss option that is on, as a label spells it (``label-smoothing eps=0.1``,
    ``flood=0.02``) or, without values, as a kind does (``label-smoothing``, ``flood``): the
    level is a grid value, so every flood level of a grid is one kind of method."""
    title = LOSS_OPTIONS[name]
    if not values:
        return title if title is not None else _short_name(name)
    text = _field_text(name, value)
    return " ".join(t for t in (title, text) if t)


def _short_name(name: str) -> str:
    short = field_info(name)["short"]
    return short if short else name


def upgraded(block: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema-1 block in this layout, computed from the block alone (no registry, no torch),
    so results written before the change read as they did, only correctly grouped. Schema 1
    spelled an untitled loss option's value in the kind (``sgd + flood=0.02``): a report took
    each flood level of a grid for a method of its own. Other blocks come back as they are."""
    identity, kind = block.get("identity"), block.get("kind")
    if block.get("schema") != 1 or not isinstance(identity, Mapping) or not isinstance(kind, str):
        return block
    parts = kind.split(" + ")
    for name in LOSS_OPTIONS:
        value = identity.get(name)
        if value not in (None, 0, 0.0):
            spelled = _loss_option_text(name, value, values=True)
            plain = _loss_option_text(name, value, values=False)
            parts = [plain if part == spelled else part for part in parts]
    return {**block, "schema": METHOD_SCHEMA, "kind": " + ".join(parts)}


def _title(template: str, config: Mapping[str, Any]) -> tuple[str, set[str]]:
    """A registered title with its ``{field}`` placeholders filled from the config (a field
    shown in the title is not repeated as ``field=value``)."""
    used = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    filled = template.format_map(
        {f: fmt(config.get(f)) if config.get(f) is not None else "" for f in used}
    )
    return " ".join(filled.split()), used


def method_kind(config: Mapping[str, Any]) -> str:
    """The method without its grid values: what one column of Figs. 5-6 shows."""
    return method_label(config, values=False)


def spelled_fields() -> list[str]:
    """The fields a label spells (the optimizer, the loss, its options, the regularizer parts
    and every field they declare); the others are the setting (model, data, lr, weight decay,
    ...), which the report shows as columns where they vary."""
    spelled = set(LOSS_OPTIONS) | {"optimizer", "loss"}
    for selector, registry in _registries().items():
        if registry.labelled:
            spelled |= {selector} | registry.declared_fields()
    return sorted(spelled)
