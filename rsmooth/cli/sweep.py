"""``rsmooth sweep``: run every run of a recipe (format: docs/recipes.md).

The command reads as its stages: parse the flags and the recipe into a plan (every config
resolved, nothing written); look at the out folder (each run's state, and the confirmation's
runs once the grid is finished); then either show all that (--dry-run) or check that the plan
can run here, say what the out folder's records imply (runs that restart from scratch, another
engine), execute it stage by stage and report each stage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rsmooth.cli.app import app
from rsmooth.cli.paths import check_output_dir
from rsmooth.errors import EXIT_FAILED, RecipeError, RsmoothError
from rsmooth.interrupt import Interrupted
from rsmooth.sweep.runner import DEFAULT_TIMEOUT_MIN, plan_entries

if TYPE_CHECKING:
    from rsmooth.sweep.recipe import PlannedRun, Recipe
    from rsmooth.sweep.runner import StageResult
    from rsmooth.sweep.state import RunStatus

EXECUTORS = ("local", "ray", "submitit")
MIX_FLAG = "--allow-mixed-engines"


def _complete_recipe(incomplete: str) -> list[str]:
    """Shell completion: the shipped recipes' names (the shell completes file paths itself)."""
    from rsmooth.sweep.shipped import shipped_recipes

    return [name for name in shipped_recipes() if name.startswith(incomplete)]


# The command's flags, declared once here so that its signature reads as the list of flags.
RecipeArgument = Annotated[
    str | None,
    typer.Argument(
        help="A shipped recipe's name (table1, ...; see --list), or a recipe YAML file's path.",
        show_default=False,
        autocompletion=_complete_recipe,
    ),
]
ListFlag = Annotated[
    bool, typer.Option("--list", help="List the shipped recipes and what each runs; exit.")
]
OutOption = Annotated[
    str | None,
    typer.Option(help="Sweep folder, one run folder inside per run.", show_default="runs/NAME"),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Runs at once.",
        show_default="local 1; ray, submitit: as many as fit",
    ),
]
DryRunFlag = Annotated[
    bool, typer.Option("--dry-run", help="List the runs, their status and the cost; run nothing.")
]
ExecutorOption = Annotated[
    str, typer.Option(help="local (subprocesses), ray, or submitit (a SLURM job array).")
]
RayAddressOption = Annotated[
    str | None, typer.Option(help="An existing Ray cluster.", show_default="start a local one")
]
GpusOption = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        help="Ray, submitit: GPUs reserved per run; Ray takes fractions (0.25 packs 4 runs "
        "per GPU).",
        show_default="ray: 1 if there are GPUs; submitit: 1 unless --device cpu",
    ),
]
CpusOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Ray, submitit: CPUs reserved per run (its torch threads).",
        show_default="ray: cluster CPUs // --jobs, or 1; submitit: 1",
    ),
]
PartitionOption = Annotated[
    str | None,
    typer.Option(help="submitit: the SLURM partition.", show_default="the cluster's default"),
]
TimeoutOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="submitit: a job's time limit in minutes; a run that needs longer is requeued "
        "and resumes from its checkpoint.",
    ),
]
DeviceOption = Annotated[str | None, typer.Option(help="auto, cpu or cuda for every run.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="key=value: override a field in every run, e.g. epochs=2."),
]
TrialsOption = Annotated[
    int | None, typer.Option(min=1, help="Run seeds 0..N-1 instead of the recipe's.")
]
PackOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Train up to K runs that share model, data and protocol as one packed model "
        "per process (local executor, GPU; docs/architecture.md).",
        show_default="the recipe's pack, else 1",
    ),
]
PackOnCpuFlag = Annotated[
    bool,
    typer.Option("--pack-on-cpu", help="Pack on the CPU too (measured slower there; for tests)."),
]
PluginOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="MODULE",
        help="Import this module of your own parts first (repeatable), as a recipe's "
        "plugins: does; every run's config.yaml names it.",
    ),
]
MixFlag = Annotated[
    bool,
    typer.Option(
        MIX_FLAG,
        help="Run even where the out folder's completed runs ran on another engine (device, "
        "precision, CPU threads) than new runs here would: their trials would not compare.",
    ),
]


@app.command()
def sweep(
    recipe: RecipeArgument = None,
    list_recipes: ListFlag = False,
    out: OutOption = None,
    jobs: JobsOption = None,
    dry_run: DryRunFlag = False,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    gpus_per_run: GpusOption = None,
    cpus_per_run: CpusOption = None,
    slurm_partition: PartitionOption = None,
    timeout_min: TimeoutOption = DEFAULT_TIMEOUT_MIN,
    device: DeviceOption = None,
    set_values: SetOption = None,
    trials: TrialsOption = None,
    pack: PackOption = None,
    pack_on_cpu: PackOnCpuFlag = False,
    plugin: PluginOption = None,
    allow_mixed_engines: MixFlag = False,
) -> None:
    """Run a recipe's grid of runs. Finished runs are skipped, interrupted ones resumed, and a
    failed or diverged run does not stop the others.

    Exit codes: 0 all completed, 2 invalid recipe or flag (nothing run), 4 some run failed or
    diverged, 130 interrupted (resumable: run the same command again).
    """
    console = _console()
    if list_recipes:
        from rsmooth.sweep.display import print_shipped

        print_shipped(console)
        return
    plan = _parse(recipe, out, executor, plugin or [], set_values or [], device, trials)
    execution = Execution(
        executor=executor,
        jobs=jobs,
        ray_address=ray_address,
        gpus_per_run=gpus_per_run,
        cpus_per_run=cpus_per_run,
        slurm_partition=slurm_partition,
        timeout_min=timeout_min,
        pack=pack if pack is not None else plan.recipe.pack,
        pack_on_cpu=pack_on_cpu,
    )
    if dry_run:
        _show_dry_run(console, plan, _look(plan), execution)
        return
    _check(plan, execution)
    standing = _look(plan)
    for note in _notes(plan, standing, execution, allow_mixed_engines):
        _say(console, note)
    _report(console, plan, _execute(plan, execution))


# ----------------------------------------------------------------------------- the stages
@dataclass(frozen=True)
class Plan:
    """The sweep the flags and the recipe ask for; nothing read from the out folder yet."""

    recipe: Recipe
    runs: list[PlannedRun]  # the grid, every config resolved
    out_dir: Path


@dataclass(frozen=True)
class Execution:
    """How the runs execute: exactly the options of rsmooth.sweep.runner.run_sweep."""

    executor: str
    jobs: int | None
    ray_address: str | None
    gpus_per_run: float | None
    cpus_per_run: int | None
    slurm_partition: str | None
    timeout_min: int
    pack: int
    pack_on_cpu: bool


@dataclass(frozen=True)
class Standing:
    """Where the plan stands in the out folder (read only: a dry run writes nothing)."""

    grid: list[RunStatus]
    confirmation: list[RunStatus]  # the confirmation's runs, once the grid is finished
    confirm_note: str  # how many winners, or what the confirmation waits for

    @property
    def statuses(self) -> list[RunStatus]:
        return [*self.grid, *self.confirmation]


def _say(console: Any, line: str) -> None:
    """A note as one line, however long (a log's reader greps it), and as written: run names
    are the user's text, not rich markup."""
    console.print(line, soft_wrap=True, markup=False, highlight=False)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))  # no wrapped run names in logs and pipes
    return console


def _parse(
    recipe: str | None,
    out: str | None,
    executor: str,
    plugins: list[str],
    set_values: list[str],
    device: str | None,
    trials: int | None,
) -> Plan:
    """The flags and the recipe, every config resolved: a mistake is one line, nothing written."""
    from rsmooth.plugins import load_plugins, merge_names
    from rsmooth.sweep import expand, load_recipe, parse_overrides
    from rsmooth.sweep.confirm import check_selectable
    from rsmooth.sweep.shipped import find_recipe

    if recipe is None:
        raise RecipeError("missing RECIPE (allowed: a shipped recipe's name, see --list; a path)")
    if executor not in EXECUTORS:
        raise RecipeError(f"--executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    load_plugins(plugins)  # before the recipe: its fields may be the plugins'
    parsed = load_recipe(find_recipe(recipe))
    parsed = dataclasses.replace(parsed, plugins=merge_names(plugins, parsed.plugins))
    overrides = parse_overrides(set_values)
    if device is not None:
        overrides.update(parse_overrides([f"device={device}"]))
    runs = expand(parsed, overrides, trials)  # every config resolved before anything runs
    check_selectable(parsed, runs)
    out_dir = check_output_dir(out, "--out") if out is not None else Path("runs") / parsed.name
    return Plan(parsed, runs, out_dir)


def _look(plan: Plan) -> Standing:
    """Each run's state in the out folder; the confirmation's runs where the grid is finished
    (chosen, not recorded: the sweep writes selection.json when it runs that stage)."""
    from rsmooth.sweep import sweep_status
    from rsmooth.sweep.runner import confirmation_runs

    grid = sweep_status(plan.runs, plan.out_dir)
    if plan.recipe.confirm is None:
        return Standing(grid, [], "")
    if not plan.out_dir.is_dir():
        return Standing(grid, [], "after the grid")
    planned, note = confirmation_runs(plan.recipe, plan.runs, plan.out_dir, record=False)
    return Standing(grid, sweep_status(planned, plan.out_dir), note)


def _check(plan: Plan, execution: Execution) -> None:
    """What would make the sweep fail on this machine, found before its first run."""
    if execution.executor == "local":
        from rsmooth.sweep.preflight import check_runs_can_start

        check_runs_can_start(plan.runs)
    # Fail in one line now if the executor's package is missing, not after the first run.
    if execution.executor == "ray":
        from rsmooth.sweep.ray_exec import import_ray

        import_ray()
    if execution.executor == "submitit":
        import rsmooth.sweep.submitit_exec  # noqa: F401  (the import is the check)
    if execution.pack > 1 and execution.executor != "local":
        raise RecipeError(f"--pack {execution.pack} (allowed: with --executor local only)")


def _notes(plan: Plan, standing: Standing, execution: Execution, allow_mix: bool) -> list[str]:
    """The lines to say before the first run; refuses (one line) to mix engines unless allowed."""
    from rsmooth.runfolder import replaced_plan
    from rsmooth.sweep.restart import restart_notes

    mix = _engine_mix(standing, execution)
    if mix is not None and not allow_mix:
        raise RsmoothError(f"{mix}, or {MIX_FLAG}")
    notes = restart_notes(standing.statuses)
    if mix is not None:
        notes.append(f"{mix} ({MIX_FLAG}: running them anyway)")
    replaced = replaced_plan(plan.out_dir, plan.recipe.name, plan_entries(plan.runs))
    if replaced is not None:
        notes.append(
            f"{replaced.path}: its plan of {len(replaced.runs)} grid runs is replaced by this "
            f"sweep's {len(plan.runs)} (a report counts a grid as finished by the newest plan)"
        )
    size = execution.pack
    if size > 1 and not execution.pack_on_cpu and _on_cpu(plan.runs):
        notes.append(
            f"--pack {size}: the runs are on the CPU, where packing measured slower than "
            "separate runs (docs/performance.md); they run separately (--pack-on-cpu packs)"
        )
    return notes


def _engine_mix(standing: Standing, execution: Execution) -> str | None:
    """One line if the runs left would run on another engine than the completed records."""
    if execution.executor != "local":
        return None  # Ray and SLURM runs compute on other machines, whose engine is theirs
    from rsmooth.sweep.engines import engine_mix, local_config
    from rsmooth.sweep.runner import threads_per_run

    threads = threads_per_run(execution.jobs)
    mix = engine_mix(standing.statuses, lambda status: local_config(status, threads))
    return None if mix is None else mix.message()


def _show_dry_run(console: Any, plan: Plan, standing: Standing, execution: Execution) -> None:
    from rsmooth.sweep.display import print_plan
    from rsmooth.sweep.restart import restart_notes

    name = plan.recipe.name
    print_plan(console, name, standing.grid, plan.out_dir)
    confirm = plan.recipe.confirm
    if confirm is not None and standing.confirmation:
        title = f"{name} confirmation ({standing.confirm_note})"
        print_plan(console, title, standing.confirmation, plan.out_dir)
    elif confirm is not None:
        per = f"{confirm.trials} fresh seeds from {confirm.first_seed}"
        console.print(f"confirmation: each variant's winner on {per}; {standing.confirm_note}")
    if confirm is not None and confirm.contrasts:
        pairs = ", ".join(f"{a} against {b}" for a, b in confirm.contrasts)
        console.print(f"declared head-to-head comparisons (report tests them): {pairs}")
    for note in restart_notes(standing.statuses):
        _say(console, note)
    mix = _engine_mix(standing, execution)
    if mix is not None:
        _say(console, f"{mix}; a sweep refuses unless {MIX_FLAG}")


def _execute(plan: Plan, execution: Execution) -> list[StageResult]:
    """The grid, then the confirmation. Ctrl-C and SIGTERM stop the runs at a resumable
    point (rsmooth.interrupt); the command then ends with its one line and exit code 130."""
    from rsmooth.sweep.runner import run_recipe

    try:
        return run_recipe(plan.recipe, plan.runs, plan.out_dir, **dataclasses.asdict(execution))
    except KeyboardInterrupt:
        raise Interrupted() from None


def _report(console: Any, plan: Plan, stages: list[StageResult]) -> None:
    """Each stage's counts and problems; exit code 4 if any run failed or diverged."""
    from rsmooth.sweep.display import print_result

    problems = False
    for stage in stages:
        name = plan.recipe.name if stage.stage == "grid" else f"{plan.recipe.name} confirmation"
        if stage.result is None:
            console.print(f"{name}: {stage.note}")
            continue
        print_result(console, name, plan.out_dir, stage.result)
        problems = problems or bool(stage.result.problems)
    if problems:
        raise typer.Exit(EXIT_FAILED)


def _on_cpu(runs: list[PlannedRun]) -> bool:
    from rsmooth.engine.environment import device_of

    return bool(runs) and device_of(runs[0].config).type == "cpu"
