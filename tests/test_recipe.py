"""Recipes: grid expansion, stable run names, the shipped paper grids, and one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from rsmooth.errors import RecipeError
from rsmooth.sweep.recipe import expand, load_recipe, parse_overrides, parse_recipe
from rsmooth.sweep.shipped import find_recipe, shipped_recipes
from tests.cli import invoke

RECIPES = Path(__file__).resolve().parents[1] / "rsmooth" / "recipes"
BASE = {"model": "resnet20", "data": "fashion-mnist", "epochs": 2}


def runs_of(recipe: dict, **kwargs) -> list:
    return expand(parse_recipe(recipe, source="test.yaml"), **kwargs)


def names(runs) -> list[str]:
    return [run.name for run in runs]


# ---------------------------------------------------------------------------- expansion
def test_grid_is_the_cartesian_product_times_trials():
    runs = runs_of(
        {
            "name": "t",
            "trials": 2,
            "base": BASE,
            "grid": {"weight_decay": [1e-3, 1e-4], "lr": [0.1, 0.05, 0.01]},
        }
    )
    assert len(runs) == 2 * 3 * 2
    points = {(r.config.weight_decay, r.config.lr, r.config.seed) for r in runs}
    assert len(points) == 12
    assert {r.config.seed for r in runs} == {0, 1}
    assert all(r.config.epochs == 2 and r.config.model == "resnet20" for r in runs)


def test_variants_are_united_and_crossed_with_the_recipe_grid():
    runs = runs_of(
        {
            "name": "t",
            "base": BASE,
            "grid": {"subset": [0.5, 0.25]},
            "variants": [
                {"name": "sgd", "grid": {"weight_decay": [1e-2, 1e-3]}},
                {
                    "name": "smooth",
                    "anneal": ["laplace", "logistic"],
                    "scheme": "global",
                    "grid": {"b": [0.1, 0.9]},
                },
            ],
        }
    )
    sgd = [r for r in runs if r.variant == "sgd"]
    smooth = [r for r in runs if r.variant == "smooth"]
    assert len(sgd) == 2 * 2 and len(smooth) == 2 * 2 * 2
    assert all(r.config.anneal is None for r in sgd)
    assert {(r.config.anneal, r.config.b, r.config.subset) for r in smooth} == {
        (a, b, s) for a in ("laplace", "logistic") for b in (0.1, 0.9) for s in (0.5, 0.25)
    }
    assert all(r.config.scheme == "global" and r.config.alpha == 0.0 for r in smooth)


def test_variant_value_replaces_a_recipe_axis_and_base_value():
    runs = runs_of(
        {
            "name": "t",
            "base": {**BASE, "weight_decay": 1e-3},
            "grid": {"subset": [0.5, 0.25]},
            "variants": [
                {"name": "a", "subset": 0.125, "weight_decay": 1e-4},
                {"name": "b", "grid": {"subset": [0.5]}},
            ],
        }
    )
    assert [(r.name, r.config.subset, r.config.weight_decay) for r in runs] == [
        ("a/subset=0.125/seed=0", 0.125, 1e-4),
        ("b/subset=0.5/seed=0", 0.5, 1e-3),
    ]


def test_scalars_under_grid_are_shared_and_yaml_numbers_are_coerced(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nbase: {model: resnet20, epochs: 2}\n"
        "grid: {weight_decay: [1e-3, 1.0e-4], lr: 5e-2}\n"
    )
    runs = expand(load_recipe(path))
    assert [r.config.weight_decay for r in runs] == [1e-3, 1e-4]
    assert all(r.config.lr == 0.05 for r in runs)
    assert names(runs) == ["weight_decay=0.001/seed=0", "weight_decay=0.0001/seed=0"]


def test_seeds_trials_override_and_seed_major_order():
    recipe = {
        "name": "t",
        "seeds": [3, 7],
        "base": BASE,
        "variants": [{"name": "a"}, {"name": "b", "lr": 0.05}],
    }
    assert names(runs_of(recipe)) == ["a/seed=3", "b/seed=3", "a/seed=7", "b/seed=7"]
    assert [r.config.seed for r in runs_of(recipe, trials=3)] == [0, 0, 1, 1, 2, 2]


def test_overrides_apply_to_every_run_and_keep_names():
    recipe = {
        "name": "t",
        "base": BASE,
        "grid": {"b": [0.3, 0.5]},
        "variants": [{"name": "s", "anneal": "laplace"}],
    }
    plain = runs_of(recipe)
    short = runs_of(recipe, overrides=parse_overrides(["epochs=1", "device=cpu"]))
    assert names(plain) == names(short)
    assert all(r.config.epochs == 1 and r.config.device == "cpu" for r in short)


def test_identical_configs_run_once():
    runs = runs_of(
        {
            "name": "t",
            "base": BASE,
            "variants": [
                {"name": "s", "anneal": "laplace", "grid": {"b": [0.7, 0.9]}},
                {"name": "s", "anneal": "laplace", "grid": {"b": [0.9, 1.1]}},
            ],
        }
    )
    assert names(runs) == ["s/b=0.7/seed=0", "s/b=0.9/seed=0", "s/b=1.1/seed=0"]


# ---------------------------------------------------------------------------- naming
def test_names_are_readable_and_stable():
    recipe = {
        "name": "t",
        "trials": 2,
        "base": BASE,
        "variants": [
            {"name": "sgd", "grid": {"weight_decay": [1e-3, 1e-5]}},
            {"name": "gl", "anneal": "logistic", "grid": {"alpha": [1, 2], "b": [0.5]}},
        ],
    }
    first = names(runs_of(recipe))
    assert first == names(runs_of(yaml.safe_load(yaml.safe_dump(recipe))))
    assert "sgd/weight_decay=0.001/seed=0" in first
    assert "sgd/weight_decay=1e-05/seed=1" in first
    assert "gl/alpha=2.0,b=0.5/seed=1" in first
    assert names(runs_of({"name": "t", "base": BASE})) == ["seed=0"]


def test_a_run_keeps_its_name_when_the_recipe_grows():
    small = {
        "name": "t",
        "base": BASE,
        "variants": [{"name": "s", "anneal": "laplace", "grid": {"b": [0.5]}}],
    }
    large = {
        "name": "t",
        "trials": 3,
        "base": BASE,
        "variants": [
            {"name": "sgd"},
            {"name": "s", "anneal": "laplace", "grid": {"b": [0.1, 0.5, 0.9]}},
        ],
    }
    small_runs = {r.name: r.config for r in runs_of(small)}
    large_runs = {r.name: r.config for r in runs_of(large)}
    assert small_runs.items() <= large_runs.items()


def test_different_configs_in_one_folder_is_an_error():
    with pytest.raises(RecipeError, match="same run folder s/seed=0"):
        runs_of(
            {
                "name": "t",
                "base": BASE,
                "variants": [{"name": "s", "lr": 0.1}, {"name": "s", "lr": 0.05}],
            }
        )


# ---------------------------------------------------------------------------- shipped recipes
def shipped(name: str) -> list:
    return expand(load_recipe(RECIPES / f"{name}.yaml"))


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_expands_to_unique_valid_runs(path):
    recipe = load_recipe(path)
    runs = expand(recipe)
    assert recipe.description and runs
    assert len(set(names(runs))) == len(runs)
    assert len({r.config for r in runs}) == len(runs)


def test_a_bare_name_is_always_the_shipped_recipe_and_a_path_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes").mkdir()
    local = tmp_path / "recipes" / "quick.yaml"
    local.write_text("name: mine\n")
    assert set(shipped_recipes()) == {p.stem for p in RECIPES.glob("*.yaml")}
    assert find_recipe("quick") == RECIPES / "quick.yaml"  # the local file does not shadow it
    assert find_recipe("recipes/quick.yaml") == Path("recipes/quick.yaml")
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    assert find_recipe("mine.yaml") == Path("mine.yaml")
    with pytest.raises(RecipeError, match="the local file mine.yaml is named by its path"):
        find_recipe("mine")
    with pytest.raises(RecipeError, match="recipe file nope.yaml not found"):
        find_recipe("nope.yaml")


def test_sweep_list_prints_every_shipped_recipe_with_its_description(capsys):
    result = invoke(["sweep", "--list"], capsys)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for name in shipped_recipes():
        assert name in text
    assert "10% of Fashion-MNIST, 3 epochs, 3 seeds" in text  # quick's description
    missing = invoke(["sweep"], capsys)
    assert missing.exit_code == 2 and "missing RECIPE" in missing.stderr


def test_table1_is_the_papers_grid():
    runs = shipped("table1")
    assert len(runs) == 5 * (4 + 2 * 5 + 2 * 5 * 5)
    assert all(
        (r.config.model, r.config.data, r.config.epochs) == ("resnet20", "fashion-mnist", 48)
        for r in runs
    )
    sgd = [r.config for r in runs if r.config.anneal is None]
    assert sorted({c.weight_decay for c in sgd}) == [1e-5, 1e-4, 1e-3, 1e-2]
    smooth = [r.config for r in runs if r.config.anneal is not None]
    assert all(c.weight_decay == 1e-3 and c.mu == 0.75 for c in smooth)
    assert {c.b for c in smooth} == {0.1, 0.3, 0.5, 0.7, 0.9}
    assert {c.alpha for c in smooth if c.scheme == "global"} == {0.0}
    assert {c.alpha for c in smooth if c.scheme == "global+local"} == {0.25, 0.5, 1.0, 2.0, 4.0}


def test_table2_is_the_papers_grid_and_fig4_is_table2():
    runs = shipped("table2")
    laplace = {(r.config.subset, r.config.b) for r in runs if r.config.anneal == "laplace"}
    assert {b for s, b in laplace if s == 0.125} == {0.9, 1.1, 1.3, 1.5, 1.7}
    assert {b for s, b in laplace if s == 0.5} == {0.1, 0.3, 0.5, 0.7, 0.9}
    logistic = {(r.config.subset, r.config.b) for r in runs if r.config.anneal == "logistic"}
    assert logistic == {(s, b) for s in (0.5, 0.25, 0.125) for b in (0.1, 0.3, 0.5, 0.7, 0.9)}
    assert all(r.config.alpha == 1.0 for r in runs if r.config.anneal)
    assert len(runs) == 5 * 3 * (4 + 5 + 5)  # laplace at 1/8 swaps its b grid, same count
    fig4 = shipped("fig4")
    assert [(r.name, r.config) for r in fig4] == [(r.name, r.config) for r in runs]


def test_table3_grid_and_figures_5_6_are_its_runs():
    runs = shipped("table3")
    assert len(runs) == 5 * 2 * 3 * 8
    assert all(r.config.weight_decay == 1e-4 for r in runs)
    assert {r.config.lr for r in runs if r.config.optimizer == "adam"} == {1e-3}
    assert {r.config.lr for r in runs if r.config.optimizer == "adagrad"} == {1e-2}
    assert {r.config.label_smoothing for r in runs} == {0.0, 0.1}
    assert {(r.config.anneal, r.config.b) for r in runs if r.config.anneal} == {
        ("laplace", 0.2),
        ("laplace", 0.5),
        ("logistic", 0.25),
        ("logistic", 0.5),
    }
    by_name = {r.name: r.config for r in runs}
    for figure, model in (("fig5", "resnet56"), ("fig6", "densenet-bc-100")):
        figure_runs = shipped(figure)
        assert len(figure_runs) == 5 * 3 * 5
        assert all(by_name[r.name] == r.config and r.config.model == model for r in figure_runs)


def test_quick_fits_its_budget():
    runs = shipped("quick")
    images = sum(r.config.subset * 60000 * r.config.epochs for r in runs)
    # ~5 minutes with --jobs 2 on 2 cores without bf16: ~250 images/s per core (fp32)
    assert images <= 120_000
    assert {r.config.anneal for r in runs} == {None, "logistic"}
    assert len({r.config.seed for r in runs}) >= 3  # an interval of the difference needs trials


def test_relatives_recipes_cover_their_methods():
    gr = [r.config for r in shipped("gr")]
    assert {c.step_rule for c in gr} == {"plain", "gr-db", "gr-forward", "gr-backward"}
    forward = {(c.gr_gamma, c.gr_eps) for c in gr if c.step_rule == "gr-forward"}
    assert len(forward) == 4 * 6
    assert all(c.lr_schedule == "cosine" and c.weight_decay == 1e-4 for c in gr)
    agr = {(c.optimizer, c.grad_transform) for c in (r.config for r in shipped("agr"))}
    assert agr == {(o, t) for o in ("sgd", "adamw", "adan") for t in ("none", "agr")}
    shootout = [r.config for r in shipped("shootout")]
    assert {c.step_rule for c in shootout} == {"plain", "sam", "gr-db", "gr-forward", "gr-backward"}
    assert {c.optimizer for c in shootout} == {"sgd", "adam", "adagrad", "adamw", "adan"}
    assert {c.scheme for c in shootout} == {None, "global", "global+local"}
    assert any(c.flood for c in shootout) and any(c.label_smoothing for c in shootout)
    assert {c.grad_transform for c in shootout} == {"none", "agr"}


def configurations_by_variant(runs) -> dict[str, set]:
    """Each variant's configurations, seeds aside: what its selection chooses among."""
    found: dict[str, set] = {}
    for run in runs:
        found.setdefault(run.variant, set()).add(dataclasses.replace(run.config, seed=0))
    return found


def held_out_two_stage(recipe, runs, seeds: tuple[int, ...]) -> None:
    """The relatives' protocol (docs/methods.md §6): chosen on held-out data by the mean, with
    cross-entropy, each winner confirmed on 5 fresh seeds from 100."""
    assert recipe.seeds == seeds
    assert recipe.confirm is not None
    assert (recipe.confirm.select, recipe.confirm.metric) == ("holdout", "mean")
    assert recipe.confirm.seeds == (100, 101, 102, 103, 104)
    assert not set(recipe.confirm.seeds) & set(recipe.seeds)
    for run in runs:
        c = run.config
        assert c.holdout > 0 and c.loss == "ce", run.name
        assert (c.model, c.data, c.subset, c.val_start) == ("resnet20", "fashion-mnist", 0.125, 0.9)
        assert (c.batch_size, c.lr_schedule, c.lr_drop_at, c.lr_drop_factor) == (
            128,
            "step",
            0.75,
            0.01,
        )


# SGD-run equivalents of one step (docs/recipes.md, the cost estimate): nominal passes
PASSES = {"plain": 1, "sam": 2, "gr-forward": 2, "gr-backward": 2, "gr-db": 3}


def test_gr_eighth_searches_equal_grids_and_gives_sgd_the_two_pass_compute():
    recipe = load_recipe(RECIPES / "gr-eighth.yaml")
    runs = expand(recipe)
    held_out_two_stage(recipe, runs, seeds=(0,))
    by_variant = configurations_by_variant(runs)
    # the claim's core trains first and double backprop, the costliest, last: a grid cut short
    # by a stop holds the core's grid runs (the verdict still waits for the whole grid)
    assert list(by_variant) == [
        "sgd",
        "gr-forward",
        "gr-backward",
        "sgd-2x",
        "sam",
        "flooding",
        "gr-db",
    ]
    # the same number of configurations on every side: no side has a larger selection advantage
    assert {len(configs) for configs in by_variant.values()} == {len(by_variant["sgd"])} == {4}
    sgd, sgd2x = by_variant["sgd"], by_variant["sgd-2x"]
    assert {c.epochs for c in sgd} == {48} and {c.epochs for c in sgd2x} == {96}
    # sgd-2x is the sgd variant with twice the epochs, nothing else changed
    assert {dataclasses.replace(c, epochs=48) for c in sgd2x} == sgd
    assert {c.weight_decay for c in sgd} == {1e-2, 1e-3, 1e-4, 1e-5}
    methods = [c for v in by_variant if v not in ("sgd", "sgd-2x") for c in by_variant[v]]
    assert all(c.epochs == 48 and c.weight_decay == 1e-3 for c in methods)
    assert {c.step_rule for c in by_variant["sam"]} == {"sam"}
    assert {c.rho for c in by_variant["sam"]} == {0.02, 0.05, 0.1, 0.2}
    gammas = {1e-4, 1e-3, 1e-2, 1e-1}
    for rule in ("gr-db", "gr-forward", "gr-backward"):
        assert {c.step_rule for c in by_variant[rule]} == {rule}
        assert {c.gr_gamma for c in by_variant[rule]} == gammas
    for rule in ("gr-forward", "gr-backward"):  # the paper's eps, relative to ||g|| (§4.1)
        assert {(c.gr_eps, c.gr_normalize) for c in by_variant[rule]} == {(0.5, True)}
    assert {c.flood for c in by_variant["flooding"]} == {0.01, 0.02, 0.05, 0.1}
    assert all(c.flood is None for v in by_variant if v != "flooding" for c in by_variant[v])
    # sgd-2x has the gradient evaluations of a two-pass method
    assert 96 * PASSES["plain"] == 48 * PASSES["sam"] == 48 * PASSES["gr-forward"]
    # the cost the header states: 63 runs, 117 SGD-run equivalents nominal, under ~200
    confirmation = len(by_variant) * recipe.confirm.trials
    assert len(runs) + confirmation == 28 + 35

    def cost(c) -> float:
        return PASSES[c.step_rule] * c.epochs / 48

    nominal = sum(cost(r.config) for r in runs) + recipe.confirm.trials * sum(
        max(cost(c) for c in configs) for configs in by_variant.values()
    )
    assert nominal == 52 + 65 == 117 <= 200
    # the paper's ranking claim is tested head to head, declared before any run
    assert recipe.confirm.contrasts == (("gr-forward", "gr-backward"), ("gr-forward", "gr-db"))


def test_agr_eighth_tunes_both_sides_of_each_pair_alike():
    recipe = load_recipe(RECIPES / "agr-eighth.yaml")
    runs = expand(recipe)
    held_out_two_stage(recipe, runs, seeds=(0, 1))
    by_variant = configurations_by_variant(runs)
    assert set(by_variant) == {"adamw", "adamw-agr", "adan", "adan-agr", "sgd", "sgd-agr"}
    for optimizer in ("adamw", "adan", "sgd"):
        plain, agr = by_variant[optimizer], by_variant[f"{optimizer}-agr"]
        assert {(c.optimizer, c.grad_transform) for c in plain} == {(optimizer, "none")}
        assert {(c.optimizer, c.grad_transform) for c in agr} == {(optimizer, "agr")}
        # the same lr x weight-decay grid on both sides, AGR the only difference
        assert {dataclasses.replace(c, grad_transform="none") for c in agr} == plain
        assert len(plain) == len(agr) == 4
        assert len({c.lr for c in plain}) == len({c.weight_decay for c in plain}) == 2
        assert all(c.step_rule == "plain" and c.flood is None for c in plain | agr)
    # each optimizer's grid holds its default lr and weight decay (docs/methods.md §4.4-4.5)
    defaults = {"adamw": (1e-3, 1e-2), "adan": (1e-3, 2e-2), "sgd": (0.1, 1e-3)}
    for optimizer, (lr, wd) in defaults.items():
        assert {(c.lr, c.weight_decay) for c in by_variant[optimizer]} >= {(lr, wd)}
    assert len(runs) + len(by_variant) * recipe.confirm.trials == 48 + 30


# ---------------------------------------------------------------------------- errors
BAD_RECIPES = [
    ({"name": "t", "trails": 5}, "'trails'"),
    ({"name": "t", "base": {"wieght_decay": 1e-3}}, "wieght_decay"),
    ({"name": "t", "variants": [{"name": "v", "bb": [0.1]}]}, "variant v: unknown key 'bb'"),
    ({"name": "t", "base": {"b": "abc"}}, "base.b"),
    ({"name": "t", "base": {"epochs": 2.5}}, "base.epochs"),
    ({"name": "t", "grid": {"b": []}}, "grid.b: empty list"),
    ({"name": "t", "grid": {}}, "grid"),
    ({"name": "t", "variants": []}, "variants"),
    ({"name": "t", "variants": [{"grid": {"b": [0.1]}}]}, "variants[0].name"),
    ({"name": "t", "variants": [{"name": "v", "grid": {"lr": "x"}}]}, "variant v.grid.lr"),
    (
        {"name": "t", "variants": [{"name": "v", "b": 0.1, "grid": {"b": [0.2]}}]},
        "b is set in both",
    ),
    ({"name": "t", "base": {"b": [0.1, 0.2]}}, "base.b"),
    ({"name": "t", "grid": {"b": [0.1, 0.1]}}, "distinct"),
    ({"name": "t", "grid": {"seed": [0, 1]}}, "seed"),
    ({"name": "t", "trials": 0}, "trials"),
    ({"name": "t", "trials": 2, "seeds": [0]}, "trials and seeds"),
    ({"name": "a/b"}, "name"),
    (
        {
            "name": "t",
            "variants": [{"name": "g", "anneal": "laplace", "scheme": "global", "alpha": 1.0}],
        },
        "variant g: invalid alpha",
    ),
    (
        {"name": "t", "variants": [{"name": "v", "grid": {"lr": [0.1, -1]}}]},
        "variant v (lr=-1.0): invalid lr",
    ),
    ({"name": "t", "base": {"model": "resnet21"}}, "invalid model"),
]


@pytest.mark.parametrize("recipe, needle", BAD_RECIPES, ids=[n for _, n in BAD_RECIPES])
def test_bad_recipe_is_one_line_naming_the_key(recipe, needle):
    with pytest.raises(RecipeError) as err:
        runs_of(recipe)
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert message.startswith("test.yaml")
    assert "allowed" in message


@pytest.mark.parametrize(
    "pairs, needle",
    [
        (["epochs"], "key=value"),
        (["epoch=2"], "epoch"),
        (["epochs=two"], "epochs"),
        (["b=0.5"], "axis"),
        (["anneal=logistic"], "variant s of recipe t sets it"),
    ],
)
def test_bad_overrides(pairs, needle):
    recipe = parse_recipe(
        {
            "name": "t",
            "base": BASE,
            "grid": {"b": [0.1, 0.3]},
            "variants": [{"name": "s", "anneal": "laplace"}],
        }
    )
    with pytest.raises(RecipeError, match=needle):
        expand(recipe, overrides=parse_overrides(pairs))


def test_overrides_are_read_as_yaml_scalars():
    assert parse_overrides(["epochs=2", "lr=1e-3", "nesterov=true", "flood=null"]) == {
        "epochs": 2,
        "lr": 0.001,
        "nesterov": True,
        "flood": None,
    }


# ---------------------------------------------------------------------------- the command


def test_cli_rejects_a_bad_recipe_before_writing_anything(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nbase: {model: resnet20}\ngrid: {b: []}\n")
    out_dir = tmp_path / "out"
    result = invoke(["sweep", str(path), "--out", str(out_dir)], capsys)
    code, err = result.exit_code, result.stderr
    assert code == 2
    assert err.strip().count("\n") == 0 and "grid.b: empty list" in err
    assert not out_dir.exists()


def test_cli_dry_run_lists_runs_and_cost(tmp_path, capsys):
    out_dir = tmp_path / "out"
    result = invoke(["sweep", "table1", "--dry-run", "--out", str(out_dir)], capsys)
    code, out = result.exit_code, result.stdout
    assert code == 0
    assert "sgd/weight_decay=0.001/seed=0" in out and "todo" in out
    assert "320 runs to run, 15360 epochs" in " ".join(out.split())
    assert "unknown" in out
    assert not out_dir.exists()


# ---- sweep engineer: grid seeds (confirm.grid_seeds; docs/recipes.md, "Two stages")
GRID_SEEDS = {
    "name": "g",
    "base": {**BASE, "holdout": 0.1},
    "variants": [{"name": "sgd", "grid": {"weight_decay": [1e-3, 1e-4]}}],
    "confirm": {"grid_seeds": 3, "trials": 2, "first_seed": 100},
}


def test_confirm_grid_seeds_are_the_grids_seeds_as_trials_would_be():
    recipe = parse_recipe(GRID_SEEDS, source="test.yaml")
    assert recipe.seeds == (0, 1, 2) and recipe.confirm is not None
    assert recipe.confirm.seeds == (100, 101)
    runs = expand(recipe)
    assert sorted({r.config.seed for r in runs}) == [0, 1, 2] and len(runs) == 6
    as_trials = {k: v for k, v in GRID_SEEDS.items() if k != "confirm"}
    as_trials |= {"trials": 3, "confirm": {"trials": 2, "first_seed": 100}}
    assert names(runs_of(as_trials)) == names(runs)  # the same runs, the same folders
    assert sorted({r.config.seed for r in expand(recipe, trials=2)}) == [0, 1]  # --trials wins


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"grid_seeds": 0}, "confirm.grid_seeds: 0 (allowed: an integer in [1, 1000])"),
        ({"grid_seeds": "2"}, "confirm.grid_seeds: '2' (allowed: an integer in [1, 1000])"),
        ({"grid_seeds": True}, "confirm.grid_seeds: True (allowed: an integer"),
        ({"grid_seeds": 5, "first_seed": 3}, "reuses grid seed 3"),
        ({"grid_seed": 2}, "unknown key 'grid_seed' (did you mean 'grid_seeds'?)"),
    ],
)
def test_bad_confirm_grid_seeds_are_one_line(changes, needle):
    values = dict(GRID_SEEDS, confirm={"trials": 2, "first_seed": 100, **changes})
    with pytest.raises(RecipeError) as err:
        parse_recipe(values, source="test.yaml")
    assert needle in str(err.value) and str(err.value).startswith("test.yaml: ")


@pytest.mark.parametrize("other", [{"trials": 2}, {"seeds": [0, 1]}])
def test_grid_seeds_in_two_places_is_an_error(other):
    key = next(iter(other))
    with pytest.raises(RecipeError) as err:
        parse_recipe({**GRID_SEEDS, **other}, source="test.yaml")
    assert f"{key} and confirm.grid_seeds (allowed: one of them" in str(err.value)
