"""The dataset registry: each source file registers a DatasetSpec here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from rsmooth.registry import Registry


@dataclass
class Split:
    """One split held as uint8 images (N, C, H, W) and int64 labels (N,), on any device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    in_channels: int
    image_size: int
    default_epochs: int  # paper Sec. 6: CIFAR 160, SVHN 100, Fashion-MNIST 48
    wd_baseline: float  # METHODS.md §2
    wd_smoothing: float
    augment: bool  # pad 4 + random crop + horizontal flip (CIFAR only)
    mean: tuple[float, ...]  # per-channel, of the training images scaled to [0, 1]
    std: tuple[float, ...]
    default_dir: str  # used when --data-dir is not given
    # (data_dir, download) -> (train, test); raises DataError on missing/corrupt files
    load: Callable[[Path, bool], tuple[Split, Split]]

    def default_weight_decay(self, smoothing: bool) -> float:
        return self.wd_smoothing if smoothing else self.wd_baseline


DATASETS: Registry[DatasetSpec] = Registry("dataset", "data")
