"""The dataset registry: a data set is one module (its reader, its spec with the paper's protocol,
its synthetic writer and its torchvision twin) that registers a DatasetSpec here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rsmooth.config import RunConfig
from rsmooth.registry import Registry, fills


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
    wd_baseline: float  # docs/methods.md §2
    wd_smoothing: float
    augment: bool  # pad 4 + random crop + horizontal flip (CIFAR only)
    mean: tuple[float, ...]  # per-channel, of the training images scaled to [0, 1]
    std: tuple[float, ...]
    default_dir: str  # used when --data-dir is not given
    # (data_dir, download) -> (train, test); raises DataError on missing/corrupt files
    load: Callable[[Path, bool], tuple[Split, Split]]
    # (root, num_train, num_test, seed) -> root: learnable synthetic images in the published
    # on-disk format, where load(root) finds them (tests, and bench's plain loop)
    write_synthetic: Callable[[Path, int, int, int], Path]
    # (root, num, transform) -> torchvision's own Dataset class over ``num`` synthetic training
    # images it writes under root: the plain PyTorch loop `rsmooth bench` measures against
    plain_dataset: Callable[[Path, int, Any], Any]

    def default_weight_decay(self, smoothing: bool) -> float:
        return self.wd_smoothing if smoothing else self.wd_baseline


DATASETS: Registry[DatasetSpec] = Registry("dataset", "data")


@fills
def data_defaults(cfg: RunConfig) -> dict[str, Any]:
    """The paper's epochs per data set (Sec. 6) where the config gives none."""
    if cfg.epochs is not None:
        return {}
    return {"epochs": DATASETS.get(cfg.data).default_epochs}
