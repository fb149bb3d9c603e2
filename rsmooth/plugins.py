"""Plugins: modules of your own parts (a model, a data set, a loss, a step rule, ...; each
registered as the built-ins are, with its own config fields), imported by every rsmooth
process before it reads a config.

Two ways to name one. An installed package declares an entry point in the group
``rsmooth.plugins`` (its value: the module to import); installed plugins are imported
wherever the built-in parts are (``rsmooth.parts.load_parts``). A module of yours is named by
``--plugin MODULE`` (``train``, ``sweep``) or a recipe's ``plugins:``; the names go into the
run's config (``plugins``, written to config.yaml), and building a config from its values
(``rsmooth.parts.config_from_dict``) imports them first, so a resumed run, a sweep's child
process, a Ray worker and a cluster job all know the parts before they read the rest of the
config.

Order: the built-in parts, then the installed plugins (by entry-point name), then the named
modules in the order given. Each is imported once per process (Python's module cache). A
named module is looked up like ``python -m`` looks it up: the current folder first, then
PYTHONPATH, then the installed packages.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from rsmooth.errors import RsmoothError

ENTRY_POINT_GROUP = "rsmooth.plugins"


class PluginError(RsmoothError):
    """A plugin module cannot be imported."""


@functools.cache
def installed_plugins() -> tuple[metadata.EntryPoint, ...]:
    """The entry points of group ``rsmooth.plugins`` of the installed packages, by name."""
    return tuple(sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name))


@functools.cache
def load_installed() -> None:
    """Import every installed plugin (once per process; called by ``load_parts``)."""
    for entry in installed_plugins():
        dist = entry.dist.name if entry.dist is not None else "an installed package"
        origin = f"entry point {entry.name!r} of {dist}"
        _import(entry.module, origin)


def load_plugins(names: Iterable[str] = ()) -> None:
    """The installed plugins, then the modules ``names`` in order (``rsmooth.parts.load_parts``
    imports the built-in parts first).

    Does nothing (imports no torch) where there is nothing to load; raises PluginError, one
    line naming the module and where it was looked for, when one cannot be imported."""
    names = tuple(names)
    if not names and not installed_plugins():
        return
    load_installed()
    for name in names:
        _import(name, "plugin")


def load_recorded(values: Iterable[Any]) -> None:
    """For the readers of run folders (report, plot): import the plugins that runs' configs
    name (their ``plugins`` values as read from config.yaml) where they can be imported. A
    run whose plugin is missing here is still read; its part is shown by name alone."""
    lists = [v for v in values if isinstance(v, list)]
    for name in merge_names(*([n for n in names if isinstance(n, str)] for names in lists)):
        try:
            load_plugins([name])
        except PluginError:
            continue


def merge_names(*groups: Iterable[str]) -> tuple[str, ...]:
    """Plugin names from several places (--plugin, a recipe or config file), each once."""
    return tuple(dict.fromkeys(name for group in groups for name in group))


def _import(module: str, origin: str) -> None:
    if module in sys.modules:
        return
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does; the `rsmooth` script does not
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = err.name or module
        if module == missing or module.startswith(missing + "."):
            raise PluginError(
                f"{origin} {module!r} cannot be imported: no module {missing!r} in "
                f"{_searched()} (allowed: a module found there, e.g. {missing}.py in the "
                "current folder, a folder on PYTHONPATH, or an installed package)"
            ) from None
        raise PluginError(
            f"{origin} {module!r} cannot be imported: it imports {missing!r}, which is not "
            "installed"
        ) from None


def _searched() -> str:
    """The folders Python looked in, shortened to fit one line."""
    folders = [p or os.getcwd() for p in sys.path if os.path.isdir(p or ".")]
    folders = list(dict.fromkeys(folders))
    more = len(folders) - 4
    shown = ", ".join(folders[:4])
    return shown + (f" and {more} more of sys.path" if more > 0 else "")
