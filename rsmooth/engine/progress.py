"""The per-run progress display: a bar over the epoch's batches and a line per epoch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class RunProgress:
    def __init__(self, cfg, batches_per_epoch: int, enabled: bool = True) -> None:
        self.cfg = cfg
        self.batches = batches_per_epoch
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[last]}"),
            console=self.console,
            disable=not enabled,
            transient=True,
        )
        self.task = None

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def batch_advance(self, epoch: int) -> Callable[[], None]:
        if not self.enabled:
            return _nothing
        if self.task is not None:
            self.progress.remove_task(self.task)
        task = self.progress.add_task(
            "train", total=self.batches, epoch=epoch + 1, epochs=self.cfg.epochs, last=""
        )
        self.task = task
        return lambda: self.progress.advance(task)

    def epoch_done(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.progress.console.print(
            f"epoch {record['epoch']:>3}/{self.cfg.epochs}  "
            f"loss {record['train_loss']:.4f}  acc {record['train_acc']:6.2f}%  "
            f"val_loss {record['val_loss']:.4f}  val_acc {record['val_acc']:6.2f}%  "
            f"lr {record['lr']:.3g}  s_t {record['s_t']:.3f}  "
            f"{record['images_per_second']:,.0f} img/s  {record['epoch_seconds']:.1f}s"
        )


def _nothing() -> None:
    return None
