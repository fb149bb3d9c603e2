"""The sweep's progress: runs done / running / failed and the time left.

On a terminal: a live rich progress bar. Elsewhere (CI, a log file): one plain line per
finished run and no live display. The time left is estimated from the durations of the
runs finished in this sweep: (runs not started + the unfinished share of running ones)
x mean duration / runs at once.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from rsmooth.sweep.jobs import Job, Outcome


class SweepProgress:
    def __init__(self, total: int, parallel: int, console: Any = None) -> None:
        from rich.console import Console

        self.total = total
        self.parallel = max(1, parallel)
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.running: dict[str, float] = {}
        self.durations: list[float] = []
        self.finished_count = 0
        self.failed = 0
        self.skipped = 0  # left to another process that holds them
        self._progress: Any = None
        self._task: Any = None

    # ---------------------------------------------------------------- listener
    def started(self, job: Job) -> None:
        self.running[job.name] = time.perf_counter()
        self._refresh()

    def finished(self, outcome: Outcome) -> None:
        self.running.pop(outcome.job.name, None)
        self.finished_count += 1
        if outcome.status == "completed":
            self.durations.append(outcome.seconds)
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
        if self.live:
            self._refresh()
        else:
            detail = f" ({outcome.error})" if outcome.error else ""
            print(
                f"[{self.finished_count}/{self.total}] {outcome.status}: {outcome.job.name} "
                f"in {outcome.seconds:.0f} s{detail}",
                file=sys.stderr,
                flush=True,
            )

    # ---------------------------------------------------------------- display
    def eta_seconds(self) -> float | None:
        if not self.durations:
            return None
        mean = statistics.fmean(self.durations)
        now = time.perf_counter()
        not_started = self.total - self.finished_count - len(self.running)
        running_left = sum(max(0.0, mean - (now - t)) for t in self.running.values())
        return (not_started * mean + running_left) / self.parallel

    def status_text(self) -> str:
        eta = self.eta_seconds()
        left = "unknown until a run completes" if eta is None else _duration(eta)
        done = self.finished_count - self.failed - self.skipped
        elsewhere = f", elsewhere {self.skipped}" if self.skipped else ""
        return (
            f"done {done}, running {len(self.running)}, failed {self.failed}{elsewhere} | "
            f"time left {left}"
        )

    def _refresh(self) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, completed=self.finished_count, status=self.status_text()
            )

    def __enter__(self) -> SweepProgress:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            owner = self

            class StatusColumn(TextColumn):
                # Re-rendered on every refresh, so the time left counts down between events.
                def render(self, task: Any) -> Any:
                    from rich.text import Text

                    return Text(owner.status_text())

            self._progress = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                StatusColumn(""),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("sweep", total=self.total, status="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._refresh()
            self._progress.__exit__(*exc)
            self._progress = None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
