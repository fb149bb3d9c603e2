"""Fashion-MNIST (Xiao et al. 2017): 60k/10k grey 28x28 images in 10 classes, from its IDX files.

The offline default is Debian's package ``dataset-fashion-mnist`` (METHODS.md §3); torchvision's
download puts the same files under ``<dir>/FashionMNIST/raw``, and both places are searched.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from rsmooth.data.loading import fetch_or_fail
from rsmooth.data.registry import DATASETS, DatasetSpec, Split
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
    for directory in (folder, folder / TORCHVISION_RAW):
        for name in (stem, stem + ".gz"):
            if (directory / name).is_file():
                return directory / name
    return None


def _locate(folder: Path) -> dict[str, tuple[Path, Path]] | None:
    found = {}
    for split, stems in FILES.items():
        paths = [_find(folder, stem) for stem in stems]
        if None in paths:
            return None
        found[split] = (paths[0], paths[1])
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


SPEC = DATASETS.register("fashion-mnist")(
    DatasetSpec(
        name="fashion-mnist",
        num_classes=10,
        in_channels=1,
        image_size=28,
        default_epochs=48,
        # METHODS.md §2: the best SGD weight decay of the paper's grid, and smoothing's 1e-3.
        wd_baseline=1e-3,
        wd_smoothing=1e-3,
        augment=False,
        mean=(0.2860,),
        std=(0.3530,),
        default_dir=str(DEBIAN_DIR),
        load=load,
    )
)
