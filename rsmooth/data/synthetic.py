"""Synthetic data sets written in the real on-disk formats: for the tests (no network needed)
and for `rsmooth bench`'s plain-PyTorch baseline, which reads them with torchvision's classes.

Each writer takes a root folder, writes the files where ``DatasetSpec.load(root, False)`` looks
for them, and returns the root. Labels are learnable: an image's brightness encodes its class
(per channel for CIFAR-100's 100 classes), so a short training run must raise accuracy.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import zlib
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


# ----------------------------------------------------------------------------- Fashion-MNIST
def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file of unsigned bytes (gzip-compressed when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_fashion_mnist(
    root: Path, num_train: int = 64, num_test: int = 32, *, seed: int = 0, gz: bool = True
) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    train, test = synthetic_splits("fashion-mnist", num_train, num_test, seed)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images[:, 0])
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return root


# ----------------------------------------------------------------------------- CIFAR
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


def _write_pickle(path: Path, entry: dict) -> None:
    path.write_bytes(pickle.dumps(entry, protocol=2))


def write_cifar10(root: Path, num_train: int = 64, num_test: int = 32, *, seed: int = 0) -> Path:
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    (train_images, train_labels), (test_images, test_labels) = synthetic_splits(
        "cifar10", num_train, num_test, seed
    )
    parts = zip(np.array_split(train_images, 5), np.array_split(train_labels, 5), strict=True)
    for i, (images, labels) in enumerate(parts, start=1):
        write_cifar_batch(folder / f"data_batch_{i}", images, labels, "labels")
    write_cifar_batch(folder / "test_batch", test_images, test_labels, "labels")
    _write_pickle(
        folder / "batches.meta",
        {"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch": 10000},
    )
    return Path(root)


def write_cifar100(root: Path, num_train: int = 64, num_test: int = 32, *, seed: int = 0) -> Path:
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    train, test = synthetic_splits("cifar100", num_train, num_test, seed)
    write_cifar_batch(folder / "train", *train, "fine_labels")
    write_cifar_batch(folder / "test", *test, "fine_labels")
    _write_pickle(
        folder / "meta",
        {
            "fine_label_names": [f"class{i}" for i in range(100)],
            "coarse_label_names": [f"superclass{i}" for i in range(20)],
        },
    )
    return Path(root)


# ----------------------------------------------------------------------------- SVHN
_MAT_TYPES = {  # numpy dtype -> (mxCLASS, miTYPE) of MATLAB's level-5 format
    np.dtype(np.uint8): (9, 2),
    np.dtype(np.int32): (12, 5),
    np.dtype(np.float64): (6, 9),
}


def _mat_element(mi_type: int, data: bytes) -> bytes:
    padding = b"\0" * (-len(data) % 8)
    return struct.pack("<II", mi_type, len(data)) + data + padding


def write_mat(path: Path, arrays: dict[str, np.ndarray], *, compress: bool = True) -> Path:
    """A little-endian MATLAB 5 .mat file of numeric arrays (MATLAB's -v7 when compressed)."""
    header = b"MATLAB 5.0 MAT-file, written by rsmooth".ljust(116) + b"\0" * 8
    body = [header + struct.pack("<H", 0x0100) + b"IM"]
    for name, array in arrays.items():
        mx_class, mi_type = _MAT_TYPES[array.dtype]
        content = (
            _mat_element(6, struct.pack("<II", mx_class, 0))  # array flags (miUINT32)
            + _mat_element(5, struct.pack(f"<{array.ndim}i", *array.shape))  # dims (miINT32)
            + _mat_element(1, name.encode())  # name (miINT8)
            + _mat_element(mi_type, array.astype(array.dtype.newbyteorder("<")).tobytes("F"))
        )
        matrix = struct.pack("<II", 14, len(content)) + content  # miMATRIX
        if compress:
            packed = zlib.compress(matrix)
            matrix = struct.pack("<II", 15, len(packed)) + packed  # miCOMPRESSED
        body.append(matrix)
    path.write_bytes(b"".join(body))
    return path


def svhn_arrays(images: np.ndarray, labels: np.ndarray, label_dtype=np.uint8) -> dict:
    """X as (H, W, C, N) and y as (N, 1) with the digit 0 stored as 10, as the published files."""
    y = np.where(labels == 0, 10, labels).astype(label_dtype).reshape(-1, 1)
    return {"X": np.ascontiguousarray(images.transpose(2, 3, 1, 0)), "y": y}


def write_svhn(
    root: Path, num_train: int = 64, num_test: int = 32, *, seed: int = 0, compress: bool = True
) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train, test = synthetic_splits("svhn", num_train, num_test, seed)
    write_mat(root / "train_32x32.mat", svhn_arrays(*train), compress=compress)
    write_mat(root / "test_32x32.mat", svhn_arrays(*test), compress=compress)
    return root


WRITERS = {
    "fashion-mnist": write_fashion_mnist,
    "cifar10": write_cifar10,
    "cifar100": write_cifar100,
    "svhn": write_svhn,
}
