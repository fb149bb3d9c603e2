"""The per-run progress display: a bar over the epoch's batches and a line per epoch.

On a terminal the bar is live and the epoch lines are printed above it; elsewhere (a log file,
a sweep's child) there is no bar and each epoch is exactly one plain line, whatever its length.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rsmooth.config import RunConfig


class RunProgress:
    def __init__(self, cfg: RunConfig, batches_per_epoch: int, enabled: bool = True) -> None:
        self.cfg = cfg
        self.batches = batches_per_epoch
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
            transient=True,
        )
        self.task: Any = None

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def batch_advance(self, epoch: int) -> Callable[[], None]:
        if not self.live:
            return _nothing
        if self.task is not None:
            self.progress.remove_task(self.task)
        task = self.progress.add_task(
            "train", total=self.batches, epoch=epoch + 1, epochs=self.cfg.epochs
        )
        self.task = task
        return lambda: self.progress.advance(task)

    def epoch_done(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = epoch_line(record, self.cfg.epochs or 0)
        if self.live:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """One epoch's numbers on one line; splits not evaluated this epoch are left out."""
    parts = [
        f"epoch {record['epoch']:>3}/{epochs}",
        f"loss {record['train_loss']:.4f}",
        f"acc {record['train_acc']:6.2f}%",
    ]
    for split in ("val", "holdout"):
        if f"{split}_acc" in record:
            parts.append(f"{split}_loss {record[f'{split}_loss']:.4f}")
            parts.append(f"{split}_acc {record[f'{split}_acc']:6.2f}%")
    parts += [
        f"lr {record['lr']:.3g}",
        f"s_t {record['s_t']:.3f}",
        f"{record['images_per_second']:,.0f} img/s",
        f"{record['epoch_seconds']:.1f}s",
    ]
    return "  ".join(parts)


def _nothing() -> None:
    return None
