"""Registries: one per kind of part, filled where each part is defined (timm-style).

A part registers itself with ``@REGISTRY.register("name", fields=(...))``, naming the config
fields it reads (optax-style: a part says what it takes). Everything else follows from the
registries: the config validates names against them, the CLI help lists them, the report's
configuration identity keeps exactly the fields of the parts a run uses, labels spell those
fields, and the tests are parametrized over them. An unknown name fails with the list of valid
ones. A field a part needs that RunConfig lacks is declared in ``fields`` as a
``ConfigField`` (plugins): it then exists as a flag, a recipe key and a config.yaml key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from rsmooth.config import ConfigField, RunConfig, declare_field
from rsmooth.errors import ConfigError

T = TypeVar("T")
P = TypeVar("P")  # the decorated object: returned as it is, with its own signature


@dataclass(frozen=True)
class Entry(Generic[T]):
    part: T
    fields: tuple[str, ...]  # the config fields this part reads (beyond the selecting field)
    title: str  # display name (tables, figures); may hold {field} placeholders for labels
    # What else readers need to know of the part, e.g. a step rule's gradient evaluations per
    # step ("gradient_evaluations": report --cost) or a model's packed form ("packed").
    info: Mapping[str, Any] = field(default_factory=dict)
    module: str = ""  # the module that registered it (rsmooth.* for the built-ins)


class Registry(Generic[T]):
    """A name -> part table for one kind of part (models, losses, optimizers, ...).

    ``field``: the config field that selects from it. ``optional``: the field may be None
    (residual smoothing is off unless ``anneal`` names a schedule). ``labelled``: the chosen
    part and its fields' values are spelled in method labels (regularizers); otherwise its
    fields are settings, shown as table columns where they vary (optimizer momentum, ...).
    """

    def __init__(
        self,
        kind: str,
        field: str,
        *,
        optional: bool = False,
        labelled: bool = False,
    ) -> None:
        self.kind = kind
        self.field = field
        self.optional = optional
        self.labelled = labelled
        self._entries: dict[str, Entry[T]] = {}
        if field in REGISTRIES:
            raise ValueError(f"two registries select with config field {field!r}")
        REGISTRIES[field] = self

    def register(
        self,
        name: str,
        *,
        fields: Sequence[str | ConfigField] = (),
        title: str | None = None,
        **info: Any,
    ) -> Callable[[P], P]:
        names = []
        for spec in fields:
            if isinstance(spec, ConfigField):
                declare_field(spec)
                names.append(spec.name)
            else:
                names.append(spec)

        def add(part: P) -> P:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            module = sys._getframe(1).f_globals.get("__name__", "")  # the registering module
            self._entries[name] = Entry(cast(T, part), tuple(names), title or name, info, module)
            return part

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name].part
        except KeyError:
            raise ConfigError(self.field, name, self.names()) from None

    def fields(self, name: str) -> tuple[str, ...]:
        """The config fields the part ``name`` reads; () for an unknown name."""
        entry = self._entries.get(name)
        return entry.fields if entry else ()

    def info(self, name: str) -> Mapping[str, Any]:
        """What the part ``name`` declared beyond its fields ({} for an unknown name)."""
        entry = self._entries.get(name)
        return entry.info if entry else {}

    def module(self, name: str) -> str:
        """The module that registered ``name`` ("" for an unknown name)."""
        entry = self._entries.get(name)
        return entry.module if entry else ""

    def title(self, name: str) -> str:
        entry = self._entries.get(name)
        return entry.title if entry else name

    def declared_fields(self) -> set[str]:
        """Every field some part of this registry reads."""
        return {f for entry in self._entries.values() for f in entry.fields}

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


# Every registry, by the config field that selects from it (filled by Registry()).
REGISTRIES: dict[str, Registry] = {}


# ----------------------------------------------------------------------------- resolution hooks
# A part that fills defaults or has rules of its own registers them here, where it is defined
# (the SGD-only Nesterov check beside SGD, smoothing's rules beside the anneals): the config
# schema below knows no part, and rsmooth.parts.resolve runs these after its own checks.
Fill = Callable[[RunConfig], Mapping[str, Any]]  # cfg -> the fields to set (defaults)
Check = Callable[[RunConfig], None]  # cfg (filled) -> raises ConfigError on a broken rule
FILLS: list[Fill] = []
CHECKS: list[Check] = []


def fills(hook: Fill) -> Fill:
    """Register a part's defaults: ``hook(cfg)`` returns the fields to set, in order."""
    if hook not in FILLS:
        FILLS.append(hook)
    return hook


def checks(hook: Check) -> Check:
    """Register a part's rule: ``hook(cfg)`` raises ConfigError where the filled config breaks
    it."""
    if hook not in CHECKS:
        CHECKS.append(hook)
    return hook
