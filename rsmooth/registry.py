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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from rsmooth.config import ConfigField, declare_field
from rsmooth.errors import ConfigError

T = TypeVar("T")
P = TypeVar("P")  # the decorated object: returned as it is, with its own signature


@dataclass(frozen=True)
class Entry(Generic[T]):
    part: T
    fields: tuple[str, ...]  # the config fields this part reads (beyond the selecting field)
    title: str  # display name (tables, figures); may hold {field} placeholders for labels


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
            self._entries[name] = Entry(cast(T, part), tuple(names), title or name)
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


def load_parts() -> dict[str, Registry]:
    """Import every module that registers built-in parts, then the installed plugins
    (rsmooth.plugins); returns REGISTRIES (imports torch)."""
    import rsmooth.data  # noqa: F401
    import rsmooth.methods  # noqa: F401
    import rsmooth.models  # noqa: F401
    from rsmooth.plugins import load_installed

    load_installed()
    return REGISTRIES
