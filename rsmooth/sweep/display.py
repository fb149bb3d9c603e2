"""What `rsmooth sweep` prints: the shipped recipes, a dry run's plan and cost, a stage's result.

Rich tables on the console the command gives; no state of its own. (The live progress of a
running sweep is rsmooth.sweep.progress.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsmooth.sweep.runner import SweepResult
    from rsmooth.sweep.state import RunStatus

STATE_COLORS = {"completed": "green", "running": "yellow", "failed": "red", "diverged": "red"}


def print_shipped(console: Any) -> None:
    from rich.table import Table

    from rsmooth.sweep.shipped import RECIPES_DIR, describe, shipped_recipes

    title = f"rsmooth sweep NAME runs a shipped recipe (the files are in {RECIPES_DIR})"
    table = Table(title=title, title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    for name, path in shipped_recipes().items():
        table.add_row(name, describe(path))
    console.print(table)


def print_plan(console: Any, name: str, statuses: list[RunStatus], out_dir: Path) -> None:
    """The runs with their state and epochs, the count per state, and the cost of the rest."""
    from rich.table import Table

    table = Table(title=f"sweep {name}: {len(statuses)} runs in {out_dir}")
    table.add_column("run")
    table.add_column("status")
    table.add_column("epochs", justify="right")
    for status in statuses:
        state = "training now" if status.held else status.state
        color = STATE_COLORS.get(status.state)
        shown = f"[{color}]{state}[/]" if color else state
        table.add_row(status.run.name, shown, f"{status.epochs_completed}/{status.epochs}")
    console.print(table)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
    console.print("status: " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    console.print(cost_line(statuses, out_dir))


def cost_line(statuses: list[RunStatus], out_dir: Path) -> str:
    from rsmooth.sweep.estimate import estimate_cost

    cost = estimate_cost(statuses, out_dir)
    if cost.runs_left == 0:
        return "cost: nothing left to run"
    line = f"cost: {cost.runs_left} runs to run, {cost.epochs_left} epochs"
    scaled = ""
    if cost.runs_scaled:
        floor = (
            "; double backprop costs more than its count" if "gr-db" in cost.scaled_rules else ""
        )
        scaled = (
            f" ({cost.runs_scaled} of them scaled from another step rule's measured speed by "
            f"gradient evaluations per step{floor})"
        )
    if cost.runs_other_cpu:
        scaled += (
            f" ({cost.runs_other_cpu} of them priced from the records of another CPU, or of "
            "one they do not name: this one's speed may differ several-fold)"
        )
    if cost.runs_measured == cost.runs_left:
        return line + f", about {hours(cost.seconds)} on one worker" + scaled
    if cost.runs_measured:
        return line + (
            f"; about {hours(cost.seconds)} for the {cost.runs_measured} runs with a measured "
            f"speed{scaled}, unknown for the rest"
        )
    unknown = "no completed run of the same model/data/device in the out dir"
    return line + f"; seconds unknown ({unknown})"


def print_result(console: Any, name: str, out_dir: Path, result: SweepResult) -> None:
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


def hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
