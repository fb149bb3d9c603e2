"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 50k/10k colour 32x32 images, in torchvision's layout.

The pickled batches are read directly (one array per file, no per-image decoding), through an
unpickler that only builds numpy arrays, since the files come from the network.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsmooth.data.loading import fetch_or_fail
from rsmooth.data.registry import DATASETS, DatasetSpec, Split
from rsmooth.data.synthetic import synthetic_splits
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
    name: str
    title: str
    num_classes: int
    folder: str  # the folder torchvision extracts the archive to
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    torchvision_class: str


CIFAR10 = CifarLayout(
    name="cifar10",
    title="CIFAR-10",
    num_classes=10,
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    torchvision_class="CIFAR10",
)
CIFAR100 = CifarLayout(
    name="cifar100",
    title="CIFAR-100",
    num_classes=100,
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",  # the 100 classes; "coarse_labels" are the 20 superclasses
    torchvision_class="CIFAR100",
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


def _load(data_dir: Path, download: bool, layout: CifarLayout) -> tuple[Split, Split]:
    paths = _paths(data_dir, layout)
    if not all(p.is_file() for p in paths) and download:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, layout.torchvision_class)
        fetch_or_fail(layout.title, data_dir, lambda: dataset_class(str(data_dir), download=True))
    missing = [p for p in paths if not p.exists()]  # a folder in its place: the reader says so
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


# ----------------------------------------------------------------------------- synthetic files
def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray, label_key: str) -> Path:
    """A CIFAR python batch as published: a protocol-2 pickle of a dict with 'data' (N, 3072)."""
    entry = {
        "batch_label": path.name,
        label_key: [int(label) for label in labels],
        "data": np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1),
        "filenames": [f"synthetic_{i}.png" for i in range(len(images))],
    }
    if label_key == "fine_labels":
        entry["coarse_labels"] = [int(label) // 5 for label in labels]
    # The published files name numpy's array module as Python 2's numpy did.
    raw = pickle.dumps(entry, protocol=2)
    path.write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    return path


def _write(root: Path, num_train: int, num_test: int, seed: int, layout: CifarLayout) -> Path:
    folder = Path(root) / layout.folder
    folder.mkdir(parents=True, exist_ok=True)
    (train_images, train_labels), test = synthetic_splits(layout.name, num_train, num_test, seed)
    parts = zip(
        np.array_split(train_images, len(layout.train_files)),
        np.array_split(train_labels, len(layout.train_files)),
        strict=True,
    )
    for name, (images, labels) in zip(layout.train_files, parts, strict=True):
        write_cifar_batch(folder / name, images, labels, layout.label_key)
    write_cifar_batch(folder / layout.test_file, *test, layout.label_key)
    classes = [f"class{i}" for i in range(layout.num_classes)]
    if layout.name == "cifar10":
        meta = {"label_names": classes, "num_cases_per_batch": 10000}
    else:
        meta = {"fine_label_names": classes, "coarse_label_names": [f"super{i}" for i in range(20)]}
    (folder / layout.meta_file).write_bytes(pickle.dumps(meta, protocol=2))
    return Path(root)


def _plain(layout: CifarLayout, root: Path, num: int, transform: Any) -> Any:
    import torchvision.datasets

    _write(root, num, 16, 0, layout)
    base = getattr(torchvision.datasets, layout.torchvision_class)

    class SyntheticCifar(base):  # type: ignore[misc, valid-type]
        # torchvision checks the md5 sums of the published files; everything else is its code.
        def _check_integrity(self) -> bool:
            return True

        def _load_meta(self) -> None:  # the meta file's md5 is checked too
            self.classes = [f"class{i}" for i in range(layout.num_classes)]

    return SyntheticCifar(str(root), train=True, transform=transform)


def _cifar_spec(
    layout: CifarLayout, mean: tuple[float, ...], std: tuple[float, ...]
) -> DatasetSpec:
    """Paper Sec. 6 / docs/methods.md §2: 160 epochs, weight decay 1e-4, pad-4 crop + flip."""
    return DatasetSpec(
        name=layout.name,
        num_classes=layout.num_classes,
        in_channels=3,
        image_size=32,
        default_epochs=160,
        wd_baseline=1e-4,
        wd_smoothing=1e-4,
        augment=True,
        mean=mean,
        std=std,
        default_dir="~/.cache/rsmooth/data",
        load=functools.partial(_load, layout=layout),
        write_synthetic=functools.partial(_write, layout=layout),
        plain_dataset=functools.partial(_plain, layout),
    )


DATASETS.register("cifar10", title=CIFAR10.title)(
    _cifar_spec(CIFAR10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))
)
DATASETS.register("cifar100", title=CIFAR100.title)(
    _cifar_spec(CIFAR100, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762))
)
