"""Fashion-MNIST (Xiao et al. 2017): 60k/10k grey 28x28 images in 10 classes, from its IDX files.

The offline default is Debian's package ``dataset-fashion-mnist`` (docs/methods.md §3);
torchvision's download puts the same files under ``<dir>/FashionMNIST/raw``, and both places
are searched.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsmooth.data.loading import fetch_or_fail
from rsmooth.data.registry import DATASETS, DatasetSpec, Split
from rsmooth.data.synthetic import synthetic_splits
from rsmooth.errors import DataError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TORCHVISION_RAW = Path("FashionMNIST", "raw")
IDX_UNSIGNED_BYTE = 0x08  # the third byte of an IDX magic number: the element type


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions (gzip-compressed when ``.gz``)."""
    raw = _read_bytes(path)
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: truncated IDX file ({len(raw)} bytes, no complete header)")
    zero, element_type, dims_found = struct.unpack(">HBB", raw[:4])
    if zero != 0 or element_type != IDX_UNSIGNED_BYTE or dims_found != ndim:
        magic = struct.unpack(">I", raw[:4])[0]
        expected = (IDX_UNSIGNED_BYTE << 8) | ndim
        raise DataError(f"{path}: bad IDX magic number 0x{magic:08x} (expected 0x{expected:08x})")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected_size = header_size + math.prod(shape)
    if len(raw) != expected_size:
        raise DataError(
            f"{path}: {len(raw)} bytes where shape {shape} needs {expected_size} "
            "(truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: unreadable ({err})") from None


def _find(folder: Path, stem: str) -> Path | None:
    # The uncompressed file first: torchvision keeps both, and it skips the decompression.
    # Anything of that name counts (a folder too): reading it then says what is wrong with it,
    # where "not found, install it" would send the user the wrong way.
    for directory in (folder, folder / TORCHVISION_RAW):
        for name in (stem, stem + ".gz"):
            if (directory / name).exists():
                return directory / name
    return None


def _locate(folder: Path) -> dict[str, tuple[Path, Path]] | None:
    found = {}
    for split, (images, labels) in FILES.items():
        images_path, labels_path = _find(folder, images), _find(folder, labels)
        if images_path is None or labels_path is None:
            return None
        found[split] = (images_path, labels_path)
    return found


def _read_split(images_path: Path, labels_path: Path) -> Split:
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels"
        )
    # np.array copies out of the read-only buffer, which torch.from_numpy cannot share.
    return Split(
        images=torch.from_numpy(np.array(images)).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
    )


DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# Where --download (and the README's set-up, on machines without apt) puts the files when no
# --data-dir is given: the Debian folder is read-only, so the default falls back to this one.
CACHE_DIR = Path("~/.cache/rsmooth/data/fashion-mnist").expanduser()


def load(data_dir: Path, download: bool) -> tuple[Split, Split]:
    folders = [data_dir, CACHE_DIR] if data_dir == DEBIAN_DIR else [data_dir]
    files = next((f for f in map(_locate, folders) if f is not None), None)
    if files is None and download:
        from torchvision.datasets import FashionMNIST

        target = folders[-1]
        fetch_or_fail("Fashion-MNIST", target, lambda: FashionMNIST(str(target), download=True))
        files = _locate(target)
    if files is None:
        where = " or ".join(str(f) for f in folders)
        raise DataError(
            f"Fashion-MNIST not found: no {FILES['train'][0]}[.gz] and companions in {where} "
            f"(nor their {TORCHVISION_RAW} subfolders); install it with `apt-get install "
            "dataset-fashion-mnist`, pass --data-dir to a folder with the IDX files, "
            "or pass --download"
        )
    return _read_split(*files["train"]), _read_split(*files["test"])


# ----------------------------------------------------------------------------- synthetic files
def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file of unsigned bytes (gzip-compressed when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, IDX_UNSIGNED_BYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_fashion_mnist(
    root: Path, num_train: int = 64, num_test: int = 32, seed: int = 0, *, gz: bool = True
) -> Path:
    """Synthetic IDX files named as the published ones (gzipped, as Debian ships them)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    train, test = synthetic_splits("fashion-mnist", num_train, num_test, seed)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images[:, 0])
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return root


def plain_dataset(root: Path, num: int, transform: Any) -> Any:
    """torchvision's FashionMNIST over ``num`` synthetic images (it reads raw, unzipped IDX)."""
    from torchvision.datasets import FashionMNIST

    write_fashion_mnist(Path(root) / TORCHVISION_RAW, num, 16, 0, gz=False)
    return FashionMNIST(str(root), train=True, transform=transform)


SPEC = DATASETS.register("fashion-mnist", title="Fashion-MNIST")(
    DatasetSpec(
        name="fashion-mnist",
        num_classes=10,
        in_channels=1,
        image_size=28,
        default_epochs=48,
        # docs/methods.md §2: the best SGD weight decay of the paper's grid, and smoothing's 1e-3.
        wd_baseline=1e-3,
        wd_smoothing=1e-3,
        augment=False,
        mean=(0.2860,),
        std=(0.3530,),
        default_dir=str(DEBIAN_DIR),
        load=load,
        write_synthetic=write_fashion_mnist,
        plain_dataset=plain_dataset,
    )
)
