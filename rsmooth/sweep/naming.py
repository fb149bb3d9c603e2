"""Run folder names: stable, readable, and a function of the run's own axis values only.

``<variant>/<axis>=<value>,<axis>=<value>/seed=<n>``, e.g. ``sgd/weight_decay=0.001/seed=0``.
A name depends on the variant's name, the recipe's axes and the seed, never on which other
runs the recipe holds, so two recipes with the same name, variant names and axes (table2 and
fig4, table3 and fig5) map the same run to the same folder. Uniqueness within a recipe is
checked by ``recipe.expand``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_value(value: Any) -> str:
    """A folder-safe text for a field value; distinct values give distinct texts."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)  # the shortest text that round-trips: 0.001, 1e-05, 0.5
    # Field values are registry names and numbers; a path separator would nest folders.
    return str(value).replace("/", "-").replace("\\", "-").replace(",", "-")


def run_name(variant: str | None, axes: Sequence[tuple[str, Any]], seed: int) -> str:
    parts = [variant] if variant else []
    if axes:
        parts.append(",".join(f"{key}={format_value(value)}" for key, value in axes))
    parts.append(f"seed={seed}")
    return "/".join(parts)
