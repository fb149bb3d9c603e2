"""Registries: one per kind of part, filled where each part is defined (timm-style).

A part registers itself with ``@REGISTRY.register("name")``; the config validates names
against the registry, and an unknown name fails with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rsmooth.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> part table for one kind of part (models, losses, optimizers, ...)."""

    def __init__(self, kind: str, field: str) -> None:
        self.kind = kind
        self.field = field  # the config field that selects from this registry
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.field, name, self.names()) from None

    def check(self, name: str) -> None:
        self.get(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
