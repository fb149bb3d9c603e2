"""checkpoint.pt: the model and optimizer state after a finished epoch (docs/run-folder.md).

Written atomically after every epoch, so a crash never loses a finished epoch and a reader
sees the old or the new file, never half of one. The per-epoch data order is a pure function
of (seed, epoch), so the checkpoint plus the epoch number resume a run exactly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from rsmooth.errors import RsmoothError
from rsmooth.runfolder import CHECKPOINT, RunFolder, atomic_write_bytes


@dataclass(frozen=True)
class Progress:
    epoch: int  # epochs finished
    step: int  # optimizer steps taken
    seconds: float  # wall time so far, summed across resumes


class StateSource(Protocol):
    """A model, or anything that gives its state dict (a packed run's copy of its slice)."""

    def state_dict(self) -> dict[str, Any]: ...


def save_checkpoint(
    folder: RunFolder, model: StateSource, optimizer: torch.optim.Optimizer, progress: Progress
) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": progress.epoch,
            "step": progress.step,
            "seconds": progress.seconds,
            "torch_rng": torch.get_rng_state(),
        },
        buffer,
    )
    atomic_write_bytes(folder.file(CHECKPOINT), buffer.getvalue())


def load_checkpoint(
    folder: RunFolder, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> Progress:
    """Restore model, optimizer and torch's RNG from the folder's checkpoint."""
    try:
        state = torch.load(folder.file(CHECKPOINT), map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        return Progress(int(state["epoch"]), int(state["step"]), float(state["seconds"]))
    except Exception as err:  # a truncated or foreign file
        raise RsmoothError(
            f"--resume {folder.path}: {CHECKPOINT} cannot be read ({type(err).__name__}); "
            "remove it to restart the run from scratch"
        ) from None
