"""``rsmooth sweep``: run every run of a recipe (format: docs/recipes.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir
from rsmooth.errors import EXIT_FAILED, RecipeError
from rsmooth.sweep.runner import DEFAULT_TIMEOUT_MIN

if TYPE_CHECKING:
    from rsmooth.sweep.runner import SweepResult
    from rsmooth.sweep.state import RunStatus

EXECUTORS = ("local", "ray", "submitit")


def _complete_recipe(incomplete: str) -> list[str]:
    """Shell completion: the shipped recipes' names (the shell completes file paths itself)."""
    from rsmooth.sweep.shipped import shipped_recipes

    return [name for name in shipped_recipes() if name.startswith(incomplete)]


@app.command()
def sweep(
    recipe: Annotated[
        str | None,
        typer.Argument(
            help="A shipped recipe's name (table1, ...; see --list), or a recipe YAML file's path.",
            show_default=False,
            autocompletion=_complete_recipe,
        ),
    ] = None,
    list_recipes: Annotated[
        bool, typer.Option("--list", help="List the shipped recipes and what each runs; exit.")
    ] = False,
    out: Annotated[
        str | None,
        typer.Option(help="Sweep folder, one run folder inside per run.", show_default="runs/NAME"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Runs at once.",
            show_default="local 1; ray, submitit: as many as fit",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List the runs, their status and the cost; run nothing."),
    ] = False,
    executor: Annotated[
        str, typer.Option(help="local (subprocesses), ray, or submitit (a SLURM job array).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="An existing Ray cluster.", show_default="start a local one")
    ] = None,
    gpus_per_run: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Ray, submitit: GPUs reserved per run; Ray takes fractions (0.25 packs 4 runs "
            "per GPU).",
            show_default="ray: 1 if there are GPUs; submitit: 1 unless --device cpu",
        ),
    ] = None,
    cpus_per_run: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ray, submitit: CPUs reserved per run (its torch threads).",
            show_default="ray: cluster CPUs // --jobs, or 1; submitit: 1",
        ),
    ] = None,
    slurm_partition: Annotated[
        str | None,
        typer.Option(help="submitit: the SLURM partition.", show_default="the cluster's default"),
    ] = None,
    timeout_min: Annotated[
        int,
        typer.Option(
            min=1,
            help="submitit: a job's time limit in minutes; a run that needs longer is requeued "
            "and resumes from its checkpoint.",
        ),
    ] = DEFAULT_TIMEOUT_MIN,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda for every run.")] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option("--set", help="key=value: override a field in every run, e.g. epochs=2."),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Run seeds 0..N-1 instead of the recipe's.")
    ] = None,
    pack: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Train up to K runs that share model, data and protocol as one packed model "
            "per process (local executor, GPU; docs/architecture.md).",
            show_default="the recipe's pack, else 1",
        ),
    ] = None,
    pack_on_cpu: Annotated[
        bool,
        typer.Option(
            "--pack-on-cpu", help="Pack on the CPU too (measured slower there; for tests)."
        ),
    ] = False,
    plugin: Annotated[
        list[str] | None,
        typer.Option(
            metavar="MODULE",
            help="Import this module of your own parts first (repeatable), as a recipe's "
            "plugins: does; every run's config.yaml names it.",
        ),
    ] = None,
) -> None:
    """Run a recipe's grid of runs. Finished runs are skipped, interrupted ones resumed, and a
    failed or diverged run does not stop the others.

    Exit codes: 0 all completed, 2 invalid recipe or flag (nothing run), 4 some run failed or
    diverged, 130 interrupted (resumable: run the same command again).
    """
    from rich.console import Console

    from rsmooth.plugins import load_plugins, merge_names
    from rsmooth.sweep import expand, load_recipe, parse_overrides, sweep_status
    from rsmooth.sweep.confirm import check_selectable
    from rsmooth.sweep.runner import confirmation_runs, run_recipe
    from rsmooth.sweep.shipped import find_recipe

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))  # no wrapped run names in logs and pipes
    if list_recipes:
        _print_shipped(console)
        return
    if recipe is None:
        raise RecipeError("missing RECIPE (allowed: a shipped recipe's name, see --list; a path)")
    if executor not in EXECUTORS:
        raise RecipeError(f"--executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    load_plugins(plugin or ())  # before the recipe: its fields may be the plugins'
    parsed = load_recipe(find_recipe(recipe))
    parsed = dataclasses.replace(parsed, plugins=merge_names(plugin or (), parsed.plugins))
    overrides = parse_overrides(set_values or [])
    if device is not None:
        overrides.update(parse_overrides([f"device={device}"]))
    runs = expand(parsed, overrides, trials)  # every config resolved before anything runs
    check_selectable(parsed, runs)
    out_dir = check_output_dir(out, "--out") if out is not None else Path("runs") / parsed.name
    if not dry_run and executor == "local":
        from rsmooth.sweep.preflight import check_runs_can_start

        check_runs_can_start(runs)
    if dry_run:
        _print_plan(console, parsed.name, sweep_status(runs, out_dir), out_dir)
        if parsed.confirm is not None:
            planned, note = _confirmation_plan(parsed, runs, out_dir, confirmation_runs)
            if planned:
                title = f"{parsed.name} confirmation ({note})"
                _print_plan(console, title, sweep_status(planned, out_dir), out_dir)
            else:
                per = f"{parsed.confirm.trials} fresh seeds from {parsed.confirm.first_seed}"
                console.print(f"confirmation: each variant's winner on {per}; {note}")
        return
    # Fail in one line now if the executor's package is missing, not after the first run.
    if executor == "ray":
        from rsmooth.sweep.ray_exec import import_ray

        import_ray()
    if executor == "submitit":
        import rsmooth.sweep.submitit_exec  # noqa: F401  (the import is the check)
    # Ctrl-C and SIGTERM stop the runs at a resumable point (rsmooth.cli.main).
    size = pack if pack is not None else parsed.pack
    if size > 1 and executor != "local":
        raise RecipeError(f"--pack {size} (allowed: with --executor local only)")
    if size > 1 and not pack_on_cpu and _on_cpu(runs):
        console.print(
            f"--pack {size}: the runs are on the CPU, where packing measured slower than "
            "separate runs (docs/performance.md); they run separately (--pack-on-cpu packs)"
        )
    stages = run_recipe(
        parsed,
        runs,
        out_dir,
        jobs=jobs,
        executor=executor,
        ray_address=ray_address,
        gpus_per_run=gpus_per_run,
        pack=size,
        pack_on_cpu=pack_on_cpu,
        cpus_per_run=cpus_per_run,
        slurm_partition=slurm_partition,
        timeout_min=timeout_min,
    )
    problems = False
    for stage in stages:
        name = parsed.name if stage.stage == "grid" else f"{parsed.name} confirmation"
        if stage.result is None:
            console.print(f"{name}: {stage.note}")
            continue
        _print_result(console, name, out_dir, stage.result)
        problems = problems or bool(stage.result.problems)
    if problems:
        raise typer.Exit(EXIT_FAILED)


def _on_cpu(runs: Any) -> bool:
    from rsmooth.engine.environment import select_environment

    return bool(runs) and select_environment(runs[0].config).device.type == "cpu"


def _print_shipped(console: Any) -> None:
    from rich.table import Table

    from rsmooth.sweep.shipped import RECIPES_DIR, describe, shipped_recipes

    title = f"rsmooth sweep NAME runs a shipped recipe (the files are in {RECIPES_DIR})"
    table = Table(title=title, title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    for name, path in shipped_recipes().items():
        table.add_row(name, describe(path))
    console.print(table)


def _confirmation_plan(recipe: Any, runs: Any, out_dir: Path, plan: Any) -> tuple[list, str]:
    """The confirmation runs a dry run can show: only once the grid is finished (choosing
    writes selection.json, which a dry run may do: it is a pure function of the grid)."""
    if not out_dir.is_dir():
        return [], "after the grid"
    return plan(recipe, runs, out_dir)


def _print_plan(console: Any, name: str, statuses: list[RunStatus], out_dir: Path) -> None:
    from rich.table import Table

    from rsmooth.sweep.estimate import estimate_cost

    table = Table(title=f"sweep {name}: {len(statuses)} runs in {out_dir}")
    table.add_column("run")
    table.add_column("status")
    table.add_column("epochs", justify="right")
    colors = {"completed": "green", "running": "yellow", "failed": "red", "diverged": "red"}
    for status in statuses:
        state = "training now" if status.held else status.state
        color = colors.get(status.state)
        shown = f"[{color}]{state}[/]" if color else state
        table.add_row(status.run.name, shown, f"{status.epochs_completed}/{status.epochs}")
    console.print(table)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
    console.print("status: " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    cost = estimate_cost(statuses, out_dir)
    if cost.runs_left == 0:
        console.print("cost: nothing left to run")
        return
    line = f"cost: {cost.runs_left} runs to run, {cost.epochs_left} epochs"
    if cost.runs_measured == cost.runs_left:
        line += f", about {_hours(cost.seconds)} on one worker"
    elif cost.runs_measured:
        line += (
            f"; about {_hours(cost.seconds)} for the {cost.runs_measured} runs with a measured "
            "speed, unknown for the rest"
        )
    else:
        line += "; seconds unknown (no completed run of the same model/data/device in the out dir)"
    console.print(line)


def _print_result(console: Any, name: str, out_dir: Path, result: SweepResult) -> None:
    done_before = len([s for s in result.statuses if s.state == "completed"])
    completed = len([o for o in result.outcomes if o.status == "completed"])
    elsewhere = len(result.held_elsewhere)
    console.print(
        f"sweep {name}: {len(result.statuses)} runs in {out_dir}: {done_before} already done, "
        f"{completed} completed now, {len(result.problems)} failed or diverged"
        + (f", {elsewhere} left to another process that is training them" if elsewhere else "")
    )
    if result.problems:
        from rich.table import Table

        table = Table(title="failed or diverged")
        table.add_column("run")
        table.add_column("status")
        table.add_column("error")
        for run_name, status, error in result.problems:
            table.add_row(run_name, f"[red]{status}[/]", error or "")
        console.print(table)


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
