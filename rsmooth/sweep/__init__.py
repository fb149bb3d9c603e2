"""Sweeps: a recipe (YAML) expands to many runs, run here or on Ray, skipping finished ones."""

from rsmooth.sweep.recipe import PlannedRun, Recipe, expand, load_recipe, parse_overrides
from rsmooth.sweep.runner import SweepResult, run_sweep
from rsmooth.sweep.state import RunStatus, sweep_status

__all__ = [
    "PlannedRun",
    "Recipe",
    "RunStatus",
    "SweepResult",
    "expand",
    "load_recipe",
    "parse_overrides",
    "run_sweep",
    "sweep_status",
]
