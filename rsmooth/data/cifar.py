"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 50k/10k colour 32x32 images, in torchvision's layout.

The pickled batches are read directly (one array per file, no per-image decoding), through an
unpickler that only builds numpy arrays, since the files come from the network.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rsmooth.data.loading import fetch_or_fail
from rsmooth.data.registry import DATASETS, DatasetSpec, Split
from rsmooth.errors import DataError

IMAGE_BYTES = 3 * 32 * 32

# What a pickled numpy array needs, as written by Python 2 (the published files) or 3.
_ARRAY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    *(
        (f"numpy.{core}.{module}", name)
        for core in ("core", "_core")
        for module, name in (
            ("multiarray", "_reconstruct"),
            ("multiarray", "scalar"),
            ("numeric", "_frombuffer"),
        )
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


@dataclass(frozen=True)
class CifarLayout:
    title: str
    folder: str  # the folder torchvision extracts the archive to
    train_files: tuple[str, ...]
    test_file: str
    label_key: str


CIFAR10 = CifarLayout(
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    label_key="labels",
)
CIFAR100 = CifarLayout(
    title="CIFAR-100",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    label_key="fine_labels",  # the 100 classes; "coarse_labels" are the 20 superclasses
)


def read_batch(path: Path, label_key: str) -> Split:
    """One pickled batch: b"data" uint8 (N, 3072) in channel-major order, and N labels."""
    try:
        with path.open("rb") as file:
            entry = _ArrayUnpickler(file, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise DataError(f"{path}: unreadable CIFAR batch ({err})") from None
    if isinstance(entry, dict):
        entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise DataError(f"{path}: not a CIFAR batch (no 'data' and '{label_key}' entries)")
    data = entry["data"]
    try:
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: '{label_key}' is not a list of integers") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path}: 'data' is not a uint8 matrix")
    if data.shape[1] != IMAGE_BYTES or labels.shape != (data.shape[0],):
        raise DataError(
            f"{path}: 'data' of shape {data.shape} with {labels.size} labels, "
            f"expected (N, {IMAGE_BYTES}) with N labels"
        )
    images = np.ascontiguousarray(data).reshape(-1, 3, 32, 32)
    return Split(images=torch.from_numpy(images.copy()), labels=torch.from_numpy(labels))


def _paths(data_dir: Path, layout: CifarLayout) -> list[Path]:
    folder = data_dir / layout.folder
    return [folder / name for name in (*layout.train_files, layout.test_file)]


def _load(data_dir: Path, download: bool, layout: CifarLayout, dataset: str) -> tuple[Split, Split]:
    paths = _paths(data_dir, layout)
    if not all(p.is_file() for p in paths) and download:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, dataset)
        fetch_or_fail(layout.title, data_dir, lambda: dataset_class(str(data_dir), download=True))
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"{layout.title} not found: no {missing[0].name} in {data_dir / layout.folder} "
            f"(torchvision's layout); pass --download to fetch it, or --data-dir to a folder "
            f"that holds {layout.folder}/"
        )
    train_parts = [read_batch(p, layout.label_key) for p in paths[:-1]]
    train = Split(
        images=torch.cat([part.images for part in train_parts]),
        labels=torch.cat([part.labels for part in train_parts]),
    )
    return train, read_batch(paths[-1], layout.label_key)


def load_cifar10(data_dir: Path, download: bool) -> tuple[Split, Split]:
    return _load(data_dir, download, CIFAR10, "CIFAR10")


def load_cifar100(data_dir: Path, download: bool) -> tuple[Split, Split]:
    return _load(data_dir, download, CIFAR100, "CIFAR100")


# Paper Sec. 6 / METHODS.md §2: 160 epochs, weight decay 1e-4, pad-4 crop + flip augmentation.
_CIFAR_PROTOCOL = dict(
    in_channels=3,
    image_size=32,
    default_epochs=160,
    wd_baseline=1e-4,
    wd_smoothing=1e-4,
    augment=True,
    default_dir="~/.cache/rsmooth/data",
)

DATASETS.register("cifar10")(
    DatasetSpec(
        name="cifar10",
        num_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        load=load_cifar10,
        **_CIFAR_PROTOCOL,
    )
)
DATASETS.register("cifar100")(
    DatasetSpec(
        name="cifar100",
        num_classes=100,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        load=load_cifar100,
        **_CIFAR_PROTOCOL,
    )
)
