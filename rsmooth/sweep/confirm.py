"""The confirmation stage of a recipe (docs/recipes.md, ``confirm:``; docs/methods.md §6).

After the grid, the best configuration of each variant (in each point of the recipe-level axes,
e.g. each training ratio) is chosen on the recipe's selection split by its metric, and runs
again on fresh seeds into ``<out>/confirm/<its run name>/seed=<n>``. The choice is a pure
function of the finished grid's run folders, so a sweep killed and run again at any point
chooses the same configurations and resumes the same confirmation runs. The choice is recorded
in ``<out>/confirm/selection.json`` (for people and for `report`), with each candidate's score
on every grid seed and their seed-to-seed standard deviation, so that the margin a winner won by
can be read against the noise between seeds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsmooth.errors import RecipeError
from rsmooth.runfolder import COMPLETED, atomic_write_bytes, read_run, strict_json
from rsmooth.sweep.recipe import Confirm, PlannedRun, Recipe, check_fresh_seeds

CONFIRM_DIR = "confirm"  # the stage's folder inside the sweep's; `report` knows it by name
SELECTION_FILE = "selection.json"


def config_name(run: PlannedRun) -> str:
    """A run's folder name without its seed level: the name of its configuration."""
    return run.name.rsplit("/seed=", 1)[0]


@dataclass(frozen=True)
class Candidate:
    name: str  # the configuration's folder, relative to the sweep's
    runs: tuple[PlannedRun, ...]  # its grid runs (one per seed)
    score: float | None  # mean over seeds of the metric on the selection split; None: not eligible
    why: str = ""  # why it is not eligible
    seed_scores: tuple[tuple[int, float], ...] = ()  # (seed, metric) of every seed that has one

    @property
    def seed_std(self) -> float | None:
        """The sample standard deviation of the eligible candidate's scores over its seeds
        (None with one seed, or when not eligible): the noise its mean stands on."""
        if self.score is None or len(self.seed_scores) < 2:
            return None
        return statistics.stdev(value for _, value in self.seed_scores)


@dataclass(frozen=True)
class Choice:
    """The candidates of one variant at one point of the recipe-level axes, and the winner."""

    variant: str | None
    point: tuple[tuple[str, Any], ...]  # the recipe-level axis values of this group
    candidates: tuple[Candidate, ...]
    winner: Candidate | None

    @property
    def margin(self) -> float | None:
        """How far the winner's score is above the best other eligible candidate's."""
        others = [c.score for c in self.candidates if c is not self.winner and c.score is not None]
        if self.winner is None or self.winner.score is None or not others:
            return None
        return self.winner.score - max(others)


def check_selectable(recipe: Recipe, runs: list[PlannedRun]) -> None:
    """Refuse, before anything runs, a confirmation that cannot choose: selection on the
    held-out split needs every grid run to hold some data out."""
    confirm = recipe.confirm
    if confirm is None:
        return
    if confirm.select == "holdout":
        without = [r.name for r in runs if r.config.holdout <= 0]
        if without:
            raise RecipeError(
                f"{recipe.source}: confirm.select: holdout needs a held-out split in every grid "
                f"run, but {without[0]} has holdout 0 (allowed: set holdout, e.g. 0.1, in base)"
            )
    check_fresh_seeds(recipe.source, {r.config.seed for r in runs}, confirm)


def choose(recipe: Recipe, runs: list[PlannedRun], out_dir: Path) -> list[Choice]:
    """The winner of each variant and recipe-axis point, from the grid's run folders."""
    confirm = recipe.confirm
    assert confirm is not None
    groups: dict[tuple[Any, ...], dict[str, list[PlannedRun]]] = {}
    for run in runs:
        point = tuple((axis, run.config.get(axis)) for axis in recipe.axes)
        by_config = groups.setdefault((run.variant, point), {})
        by_config.setdefault(config_name(run), []).append(run)
    choices = []
    for (variant, point), by_config in groups.items():
        candidates = tuple(
            _candidate(name, members, out_dir, confirm) for name, members in by_config.items()
        )
        eligible = [c for c in candidates if c.score is not None]
        # Ties go to the configuration the recipe lists first: the choice never depends on
        # the order in which runs happened to finish.
        top = max((c.score for c in eligible if c.score is not None), default=None)
        winner = next((c for c in eligible if c.score == top), None)
        choices.append(Choice(variant, point, candidates, winner))
    return choices


def _candidate(name: str, runs: list[PlannedRun], out_dir: Path, confirm: Confirm) -> Candidate:
    """Its score is the mean over its seeds; one seed without a score (diverged, unfinished,
    no metric) makes it ineligible. The seeds that have a score are recorded either way."""
    scores: list[tuple[int, float]] = []
    why = ""
    for run in runs:
        seed = run.config.seed
        found = read_run(out_dir / run.name)
        value = found.metric(confirm.metric, confirm.select)
        if found.status == COMPLETED and not math.isnan(value):
            scores.append((seed, value))
        elif not why:  # the first seed's reason (diverged, running, ...), in the seeds' order
            missing = f"no {confirm.select} {confirm.metric}"
            why = f"seed {seed} {found.status}" if found.status != COMPLETED else missing
    if why:
        return Candidate(name, tuple(runs), None, why, tuple(scores))
    mean = math.fsum(value for _, value in scores) / len(scores)
    return Candidate(name, tuple(runs), mean, "", tuple(scores))


def plan_confirmation(recipe: Recipe, choices: list[Choice]) -> list[PlannedRun]:
    """The winners' runs on the fresh seeds, in choice order, seed-major."""
    confirm = recipe.confirm
    assert confirm is not None
    planned = []
    for seed in confirm.seeds:
        for choice in choices:
            if choice.winner is None:
                continue
            template = choice.winner.runs[0]
            name = f"{CONFIRM_DIR}/{choice.winner.name}/seed={seed}"
            planned.append(PlannedRun(name, template.variant, template.config.replace(seed=seed)))
    return planned


def write_choices(recipe: Recipe, choices: list[Choice], out_dir: Path) -> Path:
    """selection.json: how each winner was chosen, among which candidates, with what scores."""
    confirm = recipe.confirm
    assert confirm is not None
    grid_seeds = sorted({r.config.seed for c in choices for x in c.candidates for r in x.runs})
    record = {
        "recipe": recipe.name,
        "select": confirm.select,
        "metric": confirm.metric,
        "grid_seeds": grid_seeds,  # a candidate's score is its mean over these
        "seeds": list(confirm.seeds),  # the confirmation's fresh seeds
        "groups": [_group_record(choice) for choice in choices],
    }
    if confirm.contrasts:  # only where declared: older records stay byte for byte the same
        record["contrasts"] = [list(pair) for pair in confirm.contrasts]
    path = out_dir / CONFIRM_DIR / SELECTION_FILE
    data = (strict_json(record) + "\n").encode()
    if path.is_file() and path.read_bytes() == data:
        return path  # unchanged: a committed record is not rewritten
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def _group_record(choice: Choice) -> dict[str, Any]:
    return {
        "variant": choice.variant,
        "point": dict(choice.point),
        "winner": choice.winner.name if choice.winner else None,
        "margin": choice.margin,  # winner minus the runner-up: compare with the seed_std
        "candidates": [
            {
                "name": c.name,
                "score": c.score,
                "seed_std": c.seed_std,
                "per_seed": [{"seed": seed, "score": value} for seed, value in c.seed_scores],
                "not_eligible": c.why or None,
            }
            for c in choice.candidates
        ],
    }
