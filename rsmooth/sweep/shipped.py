"""The recipes shipped inside the package (``rsmooth/recipes/*.yaml``), and what the RECIPE
argument of `rsmooth sweep` names.

A bare name (``table1``: no ``/``, no ``.yaml``) is always a shipped recipe, wherever the
command runs: the commands of the docs mean the same experiment in every folder and from an
installed wheel, and a local file never silently replaces one. Anything else is a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from rsmooth.config import read_yaml
from rsmooth.errors import ConfigError, RecipeError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
SUFFIXES = (".yaml", ".yml")


def shipped_recipes() -> dict[str, Path]:
    """Every shipped recipe, by name."""
    return {path.stem: path for path in sorted(RECIPES_DIR.glob("*.yaml"))}


def is_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.endswith(SUFFIXES)


def find_recipe(text: str) -> Path:
    """The recipe file that the RECIPE argument names: a path, or a shipped recipe's name."""
    if is_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise RecipeError(f"recipe file {text} not found (allowed: an existing YAML file)")
        return path
    shipped = shipped_recipes()
    if text in shipped:
        return shipped[text]
    local = [p for p in (Path("recipes") / f"{text}.yaml", Path(f"{text}.yaml")) if p.is_file()]
    hint = f"; the local file {local[0]} is named by its path" if local else ""
    raise RecipeError(
        f"recipe {text!r} is not a shipped recipe{hint} "
        f"(allowed: {', '.join(shipped)}, or a path to a YAML file)"
    )


def describe(path: Path) -> str:
    """A recipe's ``description`` (one line), without validating the rest of it."""
    try:
        values = read_yaml(path, "recipe")
    except ConfigError as err:
        return f"(unreadable: {err.allowed})"
    text = values.get("description", "") if isinstance(values, dict) else ""
    return " ".join(str(text).split())
