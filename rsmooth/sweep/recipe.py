"""Recipes: a YAML description of a set of runs, parsed, validated and expanded up front.

The schema is documented in docs/recipes.md. In short: ``base`` holds the fields every run
shares; a list-valued field (under ``grid``, or directly in a variant) is an axis, and the
runs are the cartesian product of the axes; ``variants`` are sub-experiments whose runs
are united; every run is repeated for each seed. Every expanded config is resolved
(``resolve(RunConfig)``) before anything runs, so a bad value fails in one line, naming
the key and the variant, without a run folder being written.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsmooth.config import RunConfig, coerce, load_yaml_mapping
from rsmooth.errors import ConfigError, RecipeError
from rsmooth.parts import resolve
from rsmooth.plugins import PluginError, load_plugins
from rsmooth.sweep.naming import run_name

RECIPE_KEYS = (
    "name",
    "description",
    "plugins",
    "trials",
    "seeds",
    "base",
    "grid",
    "variants",
    "confirm",
    "pack",
)
CONFIRM_KEYS = ("grid_seeds", "trials", "first_seed", "select", "metric", "contrasts")
SELECT_SPLITS = ("holdout", "val")
SELECT_METRICS = ("max", "mean")
VARIANT_KEYS = ("name", "description", "grid")
# Seeds come from `trials` / `seeds`, never from the grid: each (config, seed) is one trial.
RESERVED_FIELDS = ("seed",)
# Bounds that keep a typo (trials: 10000000) from hanging even a --dry-run.
MAX_TRIALS = 1000
MAX_RUNS = 100_000
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class Variant:
    """One sub-experiment: fixed field values plus its own axes (field -> values)."""

    name: str | None
    fixed: dict[str, Any]
    axes: dict[str, tuple[Any, ...]]


@dataclass(frozen=True)
class Confirm:
    """The confirmation stage: after the grid, the best configuration of each variant (chosen
    on ``select``'s split by ``metric``, averaged over the grid's seeds) runs again on
    ``trials`` fresh seeds from ``first_seed`` on (docs/recipes.md). ``grid_seeds``: the grid's
    seeds 0..N-1 where the recipe gives them here rather than as ``trials`` or ``seeds`` (read
    into the recipe's seeds, kept here as the recipe wrote it)."""

    grid_seeds: int | None = None
    trials: int = 5
    first_seed: int = 100
    select: str = "holdout"
    metric: str = "max"
    # Head-to-head comparisons declared before any run: (a, b) tests variant a's confirmed
    # winner against variant b's, in the same Holm family as the baseline comparisons.
    contrasts: tuple[tuple[str, str], ...] = ()

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.first_seed, self.first_seed + self.trials))


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    seeds: tuple[int, ...]
    base: dict[str, Any]
    axes: dict[str, tuple[Any, ...]]  # the recipe-level grid, crossed with every variant
    variants: tuple[Variant, ...]  # one unnamed variant when the recipe has none
    source: str = "recipe"  # where it came from, for error messages
    confirm: Confirm | None = None
    pack: int = 1  # runs per packed process (rsmooth sweep --pack overrides it)
    plugins: tuple[str, ...] = ()  # modules of the user's own parts, in every run's config

    def axis_fields(self) -> set[str]:
        names = set(self.axes)
        for variant in self.variants:
            names.update(variant.axes)
        return names


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its folder (relative to the sweep's out dir) and resolved config."""

    name: str
    variant: str | None
    config: RunConfig = field(repr=False)


# ----------------------------------------------------------------------
def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file (the values are type-checked; resolve() comes later)."""
    path = Path(path)
    values = load_yaml_mapping(path, "recipe")
    return parse_recipe(values, source=path.name)


def parse_recipe(values: Mapping[str, Any], source: str = "recipe") -> Recipe:
    """A recipe from its YAML values; its plugins are imported first (their parts' fields are
    keys of the recipe)."""
    plugins = _coerce("plugins", values.get("plugins"), source, "recipe")
    try:
        load_plugins(plugins)
    except PluginError as err:
        raise RecipeError(f"{source}: plugins: {err}") from None
    _check_keys(values, RECIPE_KEYS, source, "", "recipe key")
    name = values.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise RecipeError(
            f"{source}: name: {name!r} (allowed: a non-empty string of letters, digits, . _ + -)"
        )
    description = values.get("description", "")
    if not isinstance(description, str):
        raise RecipeError(f"{source}: description: {description!r} (allowed: a string)")
    seeds = _parse_seeds(values, source)
    base = _parse_fixed(values.get("base", {}), source, "base")
    grid_fixed, axes = _parse_grid(values, source, "grid")
    _no_overlap(base, axes, source, "base", "grid")
    _no_overlap(base, grid_fixed, source, "base", "grid")
    base.update(grid_fixed)
    raw_variants = values.get("variants")
    if raw_variants is None:
        variants: tuple[Variant, ...] = (Variant(None, {}, {}),)
    else:
        if not isinstance(raw_variants, list) or not raw_variants:
            raise RecipeError(
                f"{source}: variants: {raw_variants!r} (allowed: a non-empty list of mappings)"
            )
        variants = tuple(_parse_variant(v, i, source) for i, v in enumerate(raw_variants))
    names = [v.name for v in variants if v.name is not None]
    confirm = _parse_confirm(values.get("confirm"), seeds, source, names)
    pack = values.get("pack", 1)
    if not _is_int(pack) or pack < 1:
        raise RecipeError(f"{source}: pack: {pack!r} (allowed: an integer >= 1)")
    return Recipe(name, description, seeds, base, axes, variants, source, confirm, pack, plugins)


def _parse_confirm(
    raw: Any, seeds: tuple[int, ...], source: str, variants: Sequence[str] = ()
) -> Confirm | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RecipeError(
            f"{source}: confirm: {raw!r} (allowed: a mapping of {', '.join(CONFIRM_KEYS)})"
        )
    _check_keys(raw, CONFIRM_KEYS, source, "confirm: ", "key")
    fields = {str(k): v for k, v in raw.items()}
    if "contrasts" in fields:
        fields["contrasts"] = _parse_contrasts(fields["contrasts"], variants, source)
    confirm = Confirm(**fields)
    if not _is_int(confirm.trials) or confirm.trials < 1:
        raise RecipeError(
            f"{source}: confirm.trials: {confirm.trials!r} (allowed: an integer >= 1)"
        )
    if not _is_int(confirm.first_seed) or confirm.first_seed < 0:
        raise RecipeError(
            f"{source}: confirm.first_seed: {confirm.first_seed!r} (allowed: an integer >= 0)"
        )
    if confirm.select not in SELECT_SPLITS:
        raise RecipeError(
            f"{source}: confirm.select: {confirm.select!r} (allowed: {', '.join(SELECT_SPLITS)})"
        )
    if confirm.metric not in SELECT_METRICS:
        raise RecipeError(
            f"{source}: confirm.metric: {confirm.metric!r} (allowed: {', '.join(SELECT_METRICS)})"
        )
    check_fresh_seeds(source, seeds, confirm)
    return confirm


def _parse_contrasts(raw: Any, variants: Sequence[str], source: str) -> tuple[tuple[str, str], ...]:
    """``[[a, b], ...]``: each a pair of two different variants of the recipe, once."""
    allowed = f"a list of [variant, other variant] pairs; variants: {', '.join(variants) or 'none'}"
    if not isinstance(raw, list):
        raise RecipeError(f"{source}: confirm.contrasts: {raw!r} (allowed: {allowed})")
    pairs: list[tuple[str, str]] = []
    for item in raw:
        ok = isinstance(item, list) and len(item) == 2 and all(isinstance(n, str) for n in item)
        if not ok or item[0] == item[1] or any(n not in variants for n in item):
            raise RecipeError(f"{source}: confirm.contrasts: {item!r} (allowed: {allowed})")
        pair = (item[0], item[1])
        if pair in pairs or pair[::-1] in pairs:
            raise RecipeError(
                f"{source}: confirm.contrasts: {item!r} is given twice (allowed: each pair once)"
            )
        pairs.append(pair)
    return tuple(pairs)


def check_fresh_seeds(source: str, grid_seeds: Iterable[int], confirm: Confirm) -> None:
    """The confirmation's seeds are fresh: none of them trained a grid run (checked when the
    recipe is read, and again when --trials has set the grid's seeds)."""
    reused = sorted(set(grid_seeds) & set(confirm.seeds))
    if reused:
        raise RecipeError(
            f"{source}: confirm.first_seed: {confirm.first_seed} reuses grid seed {reused[0]} "
            "(allowed: fresh seeds, past the grid's)"
        )


def _parse_seeds(values: Mapping[str, Any], source: str) -> tuple[int, ...]:
    grid_seeds = _grid_seeds(values, source)
    if grid_seeds is not None:
        given = [key for key in ("trials", "seeds") if key in values]
        if given:
            raise RecipeError(
                f"{source}: {given[0]} and confirm.grid_seeds (allowed: one of them: both give "
                "the grid's seeds)"
            )
        return tuple(range(grid_seeds))
    if "trials" in values and "seeds" in values:
        raise RecipeError(f"{source}: trials and seeds (allowed: one of them, not both)")
    if "seeds" in values:
        seeds = values["seeds"]
        ok = isinstance(seeds, list) and seeds and all(_is_int(s) and s >= 0 for s in seeds)
        if not ok or len(set(seeds)) != len(seeds):
            raise RecipeError(
                f"{source}: seeds: {seeds!r} (allowed: a non-empty list of distinct integers >= 0)"
            )
        return tuple(seeds)
    trials = values.get("trials", 1)
    if not _is_int(trials) or not 1 <= trials <= MAX_TRIALS:
        raise RecipeError(
            f"{source}: trials: {trials!r} (allowed: an integer in [1, {MAX_TRIALS}])"
        )
    return tuple(range(trials))


def _grid_seeds(values: Mapping[str, Any], source: str) -> int | None:
    """``confirm: grid_seeds: N``: the grid runs on seeds 0..N-1 (None where not given)."""
    confirm = values.get("confirm")
    if not isinstance(confirm, dict) or "grid_seeds" not in confirm:
        return None
    count = confirm["grid_seeds"]
    if not _is_int(count) or not 1 <= count <= MAX_TRIALS:
        raise RecipeError(
            f"{source}: confirm.grid_seeds: {count!r} (allowed: an integer in [1, {MAX_TRIALS}])"
        )
    return int(count)


def _parse_variant(raw: Any, index: int, source: str) -> Variant:
    where = f"variants[{index}]"
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: {where}: {raw!r} (allowed: a mapping of field: value)")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise RecipeError(
            f"{source}: {where}.name: {name!r} "
            "(allowed: a non-empty string of letters, digits, . _ + -; every variant needs one)"
        )
    where = f"variant {name}"
    _check_keys(raw, VARIANT_KEYS, source, f"{where}: ", "key", allow_fields=True)
    fields_only = {k: v for k, v in raw.items() if k not in VARIANT_KEYS}
    if "description" in raw and not isinstance(raw["description"], str):
        text = raw["description"]
        raise RecipeError(f"{source}: {where}.description: {text!r} (allowed: a string)")
    # A list directly in a variant is an axis, exactly as if it were under the variant's grid.
    fixed = {k: v for k, v in fields_only.items() if not isinstance(v, list)}
    inline_axes = {k: v for k, v in fields_only.items() if isinstance(v, list)}
    fixed = _parse_fixed(fixed, source, where)
    axes = _parse_axes(inline_axes, source, where)
    grid_fixed, grid_axes = _parse_grid(raw, source, f"{where}.grid")
    grid_all = {**grid_fixed, **grid_axes}
    _no_overlap(fields_only, grid_all, source, where, f"{where}.grid")
    fixed.update(grid_fixed)
    axes.update(grid_axes)
    return Variant(name, fixed, axes)


def _parse_fixed(raw: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: {where}: {raw!r} (allowed: a mapping of field: value)")
    fixed = {}
    for key, value in raw.items():
        name = _field_name(key, source, where)
        if isinstance(value, (list, dict)):
            raise RecipeError(
                f"{source}: {where}.{name}: {value!r} "
                f"(allowed: a single value; put lists of values under grid)"
            )
        fixed[name] = _coerce(name, value, source, where)
    return fixed


def _parse_grid(values: Mapping[str, Any], source: str, where: str) -> tuple[dict, dict]:
    """A ``grid`` mapping -> (fixed values, axes): lists are axes, scalars are shared."""
    if "grid" not in values:
        return {}, {}
    grid = values["grid"]
    if not isinstance(grid, dict) or not grid:
        raise RecipeError(
            f"{source}: {where}: {grid!r} (allowed: a non-empty mapping of field: [values])"
        )
    fixed = _parse_fixed({k: v for k, v in grid.items() if not isinstance(v, list)}, source, where)
    axes = _parse_axes({k: v for k, v in grid.items() if isinstance(v, list)}, source, where)
    return fixed, axes


def _parse_axes(raw: Mapping[str, Any], source: str, where: str) -> dict[str, tuple[Any, ...]]:
    axes: dict[str, tuple[Any, ...]] = {}
    for key, values in raw.items():
        name = _field_name(key, source, where)
        if not values:
            raise RecipeError(f"{source}: {where}.{name}: empty list (allowed: at least one value)")
        coerced = tuple(_coerce(name, v, source, where) for v in values)
        if len(set(coerced)) != len(coerced):
            raise RecipeError(
                f"{source}: {where}.{name}: {list(values)!r} (allowed: distinct values)"
            )
        axes[name] = coerced
    return axes


def _at(source: str, where: str, name: str = "") -> str:
    """Where in the input a value is: ``file.yaml: variant x.grid.b``, or ``--set b``."""
    place = ".".join(part for part in (where, name) if part)
    if not place:
        return source
    return f"{source} {place}" if source.startswith("--") else f"{source}: {place}"


def _field_name(key: Any, source: str, where: str) -> str:
    name = str(key).replace("-", "_")
    if name == "plugins":
        raise RecipeError(
            f"{source}: {where}.plugins (allowed: at the top of the recipe, or --plugin: the "
            "modules are imported before any field is read)"
        )
    if name in RESERVED_FIELDS:
        raise RecipeError(
            f"{_at(source, where, name)} (allowed: seeds come from the recipe's trials or seeds)"
        )
    if name not in RunConfig.field_names():
        hint = _did_you_mean(name, RunConfig.field_names())
        raise RecipeError(
            f"{_at(source, where)}: unknown field {key!r}{hint} (allowed: a RunConfig field, "
            "see `rsmooth train --help`)"
        )
    return name


def _coerce(name: str, value: Any, source: str, where: str) -> Any:
    try:
        return coerce(name, value)
    except ConfigError as err:
        raise RecipeError(f"{_at(source, where, name)}: {err.reason()}") from None


def _check_keys(
    values: Mapping[str, Any],
    allowed: Sequence[str],
    source: str,
    prefix: str,
    what: str,
    allow_fields: bool = False,
) -> None:
    fields_ = RunConfig.field_names() if allow_fields else []
    for key in values:
        if key in allowed or str(key).replace("-", "_") in fields_:
            continue
        if str(key).replace("-", "_") in RESERVED_FIELDS:
            raise RecipeError(
                f"{source}: {prefix}{what} {key!r} "
                "(allowed: seeds come from the recipe's trials or seeds)"
            )
        choices = list(allowed) + fields_
        hint = _did_you_mean(str(key), choices)
        listed = ", ".join(allowed) + (" or a RunConfig field" if allow_fields else "")
        raise RecipeError(f"{source}: {prefix}unknown {what} {key!r}{hint} (allowed: {listed})")


def _no_overlap(a: Mapping, b: Mapping, source: str, where_a: str, where_b: str) -> None:
    def norm(keys: Iterable[Any]) -> set[str]:
        return {str(k).replace("-", "_") for k in keys}

    both = sorted(norm(a) & norm(b))
    if both:
        raise RecipeError(
            f"{source}: {both[0]} is set in both {where_a} and {where_b} (allowed: one place)"
        )


def _variant_names(first: str | None, second: str | None) -> str:
    if first is None and second is None:
        return "the recipe has no variants: an axis is missing from its grid"
    return f"from variants {first or '(base)'} and {second or '(base)'}"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ----------------------------------------------------------------------
def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set key=value`` pairs -> coerced field values (values are read as YAML scalars)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise RecipeError(f"--set {pair!r} (allowed: key=value, e.g. --set epochs=2)")
        name = _field_name(key.strip(), "--set", "")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        if isinstance(value, (list, dict)):
            raise RecipeError(f"--set {pair!r} (allowed: a single value)")
        overrides[name] = _coerce(name, value, "--set", "")
    return overrides


def expand(
    recipe: Recipe,
    overrides: Mapping[str, Any] | None = None,
    trials: int | None = None,
) -> list[PlannedRun]:
    """All runs of the recipe, in a stable order, each config resolved (validated).

    ``overrides`` (``--set``, ``--device``) replace a field in every run; they may not
    name an axis (several runs would get the same config) or a field a variant sets (the
    variant would lose its meaning). ``trials`` replaces the
    recipe's seeds by 0..trials-1. Runs with identical resolved configs are kept once.
    """
    overrides = dict(overrides or {})
    _check_overrides(recipe, overrides)
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        raise RecipeError(f"--trials {trials} (allowed: an integer in [1, {MAX_TRIALS}])")
    seeds = tuple(range(trials)) if trials is not None else recipe.seeds
    _check_size(recipe, seeds)
    runs: list[PlannedRun] = []
    by_name: dict[str, PlannedRun] = {}
    seen_configs: set[RunConfig] = set()
    for variant in recipe.variants:
        # Variant values replace recipe-level ones; a recipe axis fixed by a variant still
        # names the folders, so every run of the recipe is named along the same axes.
        axes = {k: v for k, v in recipe.axes.items() if k not in variant.fixed}
        axes.update(variant.axes)
        name_fields = list(recipe.axes) + [k for k in variant.axes if k not in recipe.axes]
        for point in itertools.product(*axes.values()):
            at_point = dict(zip(axes, point, strict=True))
            values = {**recipe.base, **variant.fixed, **at_point, **overrides}
            values["plugins"] = recipe.plugins
            for seed in seeds:
                cfg = _resolve(recipe, variant, {**values, "seed": seed})
                name = run_name(variant.name, [(k, values[k]) for k in name_fields], seed)
                run = PlannedRun(name, variant.name, cfg)
                if name in by_name:
                    if by_name[name].config != cfg:
                        raise RecipeError(
                            f"{recipe.source}: two different configs get the same run folder "
                            f"{name} ({_variant_names(by_name[name].variant, variant.name)}) "
                            "(allowed: distinct variant names or axes)"
                        )
                    continue
                if cfg in seen_configs:
                    continue
                by_name[name] = run
                seen_configs.add(cfg)
                runs.append(run)
    # Seed-major order: every config's first trial runs before any config's second, so a
    # sweep stopped half way already covers the whole grid.
    order = {seed: i for i, seed in enumerate(seeds)}
    return sorted(runs, key=lambda run: order[run.config.seed])


def _check_overrides(recipe: Recipe, overrides: Mapping[str, Any]) -> None:
    for name in overrides:
        if name in recipe.axis_fields():
            raise RecipeError(
                f"--set {name}: {name} is an axis of recipe {recipe.name} "
                "(allowed: a field that does not vary within the recipe)"
            )
        setters = [v.name for v in recipe.variants if name in v.fixed]
        if setters:
            raise RecipeError(
                f"--set {name}: variant {setters[0]} of recipe {recipe.name} sets it "
                "(allowed: a field of base or one the recipe leaves at its default)"
            )


def _check_size(recipe: Recipe, seeds: tuple[int, ...]) -> None:
    """Counted before anything is built, so a typo's million runs fail at once."""
    planned = len(seeds) * sum(
        math.prod(len(v) for v in {**recipe.axes, **variant.axes}.values())
        for variant in recipe.variants
    )
    if planned > MAX_RUNS:
        raise RecipeError(
            f"{recipe.source}: {planned:,} runs (allowed: at most {MAX_RUNS:,} in one sweep; "
            "split the recipe or use fewer trials)"
        )


def _resolve(recipe: Recipe, variant: Variant, values: dict[str, Any]) -> RunConfig:
    where = f"variant {variant.name}" if variant.name else "base"
    try:
        return resolve(RunConfig().replace(**values))  # replace: plugin fields too
    except ConfigError as err:
        shown = ", ".join(f"{k}={v}" for k, v in values.items() if k in recipe.axis_fields())
        at = f" ({shown})" if shown else ""
        raise RecipeError(f"{recipe.source}: {where}{at}: {err}") from None
