"""Synthetic images for any registered data set: for the tests (no network needed) and for
`rsmooth bench`. Each data set's module writes them in its own on-disk format
(``DatasetSpec.write_synthetic``); the arrays come from here.

Labels are learnable: an image's brightness encodes its class (per channel for CIFAR-100's
100 classes), so a short training run must raise accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsmooth.data.registry import DATASETS

Arrays = tuple[np.ndarray, np.ndarray]  # uint8 images (N, C, H, W), int64 labels (N,)


def synthetic_arrays(name: str, num: int, seed: int) -> Arrays:
    """``num`` images of data set ``name`` (its shape and classes), balanced labels, mean pixel
    of channel 0 = 16 + 22 * (label % 10) and, with over 10 classes, of channel 1 = 16 + 22 *
    (label // 10), plus uniform noise of +-8."""
    spec = DATASETS.get(name)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num) % spec.num_classes).astype(np.int64)
    levels = np.empty((num, spec.in_channels), dtype=np.int64)
    levels[:] = (16 + 22 * (labels % 10))[:, None]
    if spec.num_classes > 10:
        levels[:, 1] = 16 + 22 * (labels // 10)
    shape = (num, spec.in_channels, spec.image_size, spec.image_size)
    noise = rng.integers(-8, 9, size=shape)
    images = np.clip(levels[:, :, None, None] + noise, 0, 255).astype(np.uint8)
    return images, labels


def synthetic_splits(name: str, num_train: int, num_test: int, seed: int) -> tuple[Arrays, Arrays]:
    """The (train, test) arrays the writer of ``name`` puts on disk for these arguments."""
    return synthetic_arrays(name, num_train, seed), synthetic_arrays(name, num_test, seed + 1)


def write_synthetic(
    name: str, root: Path, num_train: int = 64, num_test: int = 32, seed: int = 0
) -> Path:
    """Synthetic files of data set ``name`` under ``root``, where its loader reads them."""
    return DATASETS.get(name).write_synthetic(Path(root), num_train, num_test, seed)
