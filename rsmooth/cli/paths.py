"""Output paths, checked before any work (data loading, training, timing) starts.

A path given on the command line is refused in one line when it is empty (``--out ''`` must
never mean the current folder), is a file where a folder is needed (or the reverse), lies
under a file, or cannot be written.
"""

from __future__ import annotations

import os
from pathlib import Path

from rsmooth.errors import ConfigError


def check_output_dir(text: str | Path, flag: str) -> Path:
    """A folder to create or write into; returns it as a Path."""
    path = _non_empty(text, flag)
    if path.exists() and not path.is_dir():
        raise ConfigError(flag, str(text), "a folder (this path is a file)")
    _writable_ancestor(path, flag, text)
    return path


def check_output_file(text: str | Path, flag: str) -> Path:
    """A file to create or replace; returns it as a Path."""
    path = _non_empty(text, flag)
    if path.is_dir():
        raise ConfigError(flag, str(text), "a file name (this path is a folder)")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(flag, str(text), "a writable file (permission denied)")
    _writable_ancestor(path.parent, flag, text)
    return path


def _non_empty(text: str | Path, flag: str) -> Path:
    if str(text).strip() == "":
        raise ConfigError(flag, str(text), "a non-empty path")
    return Path(text).expanduser()


def _writable_ancestor(folder: Path, flag: str, text: str | Path) -> None:
    """The folder, or the nearest of its ancestors that exists, must be a writable folder."""
    probe = folder.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(flag, str(text), f"a path that does not lie under the file {probe}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(flag, str(text), f"a writable location ({probe} is not writable)")
