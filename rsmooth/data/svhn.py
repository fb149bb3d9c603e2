"""SVHN (Netzer et al. 2011), cropped digits: 73,257/26,032 colour 32x32 images, in torchvision's
layout (``train_32x32.mat``, ``test_32x32.mat``; the "extra" split is not used, as in the paper).

The .mat files are MATLAB level-5 files; a small reader here parses them, so that neither SVHN
nor its tests need scipy (torchvision's SVHN class does). Only numeric arrays are decoded.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rsmooth.data.loading import fetch_or_fail
from rsmooth.data.registry import DATASETS, DatasetSpec, Split
from rsmooth.data.synthetic import synthetic_splits
from rsmooth.errors import DataError

SPLIT_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}

# MATLAB level-5 data types (miINT8 ...) and array classes (mxDOUBLE_CLASS ...), by number.
_MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8"}
_MI_DTYPES |= {12: "i8", 13: "u8"}
_MX_DTYPES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4"}
_MX_DTYPES |= {14: "i8", 15: "u8"}
MI_MATRIX = 14
MI_COMPRESSED = 15
MAT_COMPLEX_FLAG = 0x0800


class _MatFormatError(ValueError):
    pass


def read_mat(path: Path) -> dict[str, np.ndarray]:
    """The numeric arrays of a MATLAB level-5 .mat file (v5 to v7; v7.3 is HDF5 and refused)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: unreadable ({err})") from None
    try:
        return _parse_mat(raw)
    except (_MatFormatError, zlib.error, struct.error) as err:
        raise DataError(f"{path}: not a readable MATLAB 5 .mat file ({err})") from None


def _parse_mat(raw: bytes) -> dict[str, np.ndarray]:
    if len(raw) < 128 or raw[126:128] not in (b"IM", b"MI"):
        raise _MatFormatError("no level-5 header")
    if raw.startswith(b"MATLAB 7.3"):
        raise _MatFormatError("v7.3 (HDF5) files are not supported")
    order: ByteOrder = "<" if raw[126:128] == b"IM" else ">"
    arrays: dict[str, np.ndarray] = {}
    pos = 128
    while pos < len(raw):
        mi_type, data, pos = _element(raw, pos, order)
        if mi_type == MI_COMPRESSED:
            # One compressed element wraps exactly one matrix element.
            mi_type, data, _ = _element(zlib.decompress(data), 0, order)
        if mi_type == MI_MATRIX:
            named = _matrix(data, order)
            if named is not None:
                arrays[named[0]] = named[1]
    return arrays


def _element(raw: bytes, pos: int, order: str) -> tuple[int, bytes, int]:
    """(data type, data, position of the next element) of the element starting at ``pos``."""
    if pos + 8 > len(raw):  # a tag is 8 bytes, and so is a whole small element
        raise _MatFormatError(f"truncated element tag at byte {pos}")
    (word,) = struct.unpack_from(order + "I", raw, pos)
    small = word >> 16
    if small:  # the small data element format: type and size in one word, data in the next 4
        return word & 0xFFFF, raw[pos + 4 : pos + 4 + small], pos + 8
    mi_type, size = struct.unpack_from(order + "II", raw, pos)
    end = pos + 8 + size
    if end > len(raw):
        raise _MatFormatError(f"element at byte {pos} needs {size} bytes, file truncated")
    # Elements are padded to 8 bytes, except compressed ones.
    next_pos = end if mi_type == MI_COMPRESSED else pos + 8 + -(-size // 8) * 8
    return mi_type, raw[pos + 8 : end], next_pos


ByteOrder = Literal["<", ">"]


def _matrix(data: bytes, order: ByteOrder) -> tuple[str, np.ndarray] | None:
    """(name, array) of a numeric matrix element; None for cells, structs, chars, sparse."""
    _, flags, pos = _element(data, 0, order)
    _, dims, pos = _element(data, pos, order)
    _, name, pos = _element(data, pos, order)
    flag_word = struct.unpack(order + "I", flags[:4])[0]
    mx_class = flag_word & 0xFF
    if mx_class not in _MX_DTYPES:
        return None
    if flag_word & MAT_COMPLEX_FLAG:
        raise _MatFormatError(f"complex array {name.decode('latin1')!r}")
    shape = struct.unpack(f"{order}{len(dims) // 4}i", dims)
    mi_type, real, _ = _element(data, pos, order)
    if mi_type not in _MI_DTYPES:
        raise _MatFormatError(f"unknown data type {mi_type}")
    stored = np.frombuffer(real, dtype=np.dtype(_MI_DTYPES[mi_type]).newbyteorder(order))
    if stored.size != math.prod(shape):
        raise _MatFormatError(f"{stored.size} values for shape {shape}")
    # MATLAB may store values in a narrower type than the array's class; arrays are column-major.
    array = stored.astype(_MX_DTYPES[mx_class], copy=False).reshape(shape, order="F")
    return name.decode("latin1"), array


def read_split(path: Path) -> Split:
    """X: (32, 32, 3, N) uint8; y: N labels 1..10, where 10 stands for the digit 0."""
    arrays = read_mat(path)
    if "X" not in arrays or "y" not in arrays:
        raise DataError(f"{path}: no 'X' and 'y' arrays")
    images, labels = arrays["X"], arrays["y"].reshape(-1)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X of shape {images.shape} and dtype {images.dtype}")
    if images.shape[3] != labels.size:
        raise DataError(f"{path}: {images.shape[3]} images but {labels.size} labels")
    labels = labels.astype(np.int64)
    labels[labels == 10] = 0
    # (H, W, C, N) -> (N, C, H, W), as torchvision's SVHN does.
    images = np.ascontiguousarray(images.transpose(3, 2, 0, 1))
    return Split(images=torch.from_numpy(images), labels=torch.from_numpy(labels))


def _download(split: str, data_dir: Path) -> None:
    # torchvision's SVHN class would read the file with scipy; its URL, name and checksum suffice.
    from torchvision.datasets import SVHN
    from torchvision.datasets.utils import download_url

    url, filename, md5 = SVHN.split_list[split]
    download_url(url, str(data_dir), filename, md5)


def load(data_dir: Path, download: bool) -> tuple[Split, Split]:
    paths = {split: data_dir / name for split, name in SPLIT_FILES.items()}
    if download:
        for split, path in paths.items():
            if not path.is_file():
                fetch_or_fail("SVHN", data_dir, functools.partial(_download, split, data_dir))
    missing = [p for p in paths.values() if not p.exists()]  # a folder there: the reader says
    if missing:
        raise DataError(
            f"SVHN not found: no {missing[0].name} in {data_dir} (torchvision's layout); "
            "pass --download to fetch it, or --data-dir to a folder with the .mat files"
        )
    return read_split(paths["train"]), read_split(paths["test"])


# ----------------------------------------------------------------------------- synthetic files
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
        matrix = struct.pack("<II", MI_MATRIX, len(content)) + content
        if compress:
            packed = zlib.compress(matrix)
            matrix = struct.pack("<II", MI_COMPRESSED, len(packed)) + packed
        body.append(matrix)
    path.write_bytes(b"".join(body))
    return path


def svhn_arrays(
    images: np.ndarray, labels: np.ndarray, label_dtype: type = np.uint8
) -> dict[str, np.ndarray]:
    """X as (H, W, C, N) and y as (N, 1) with the digit 0 stored as 10, as the published files."""
    y: np.ndarray = np.where(labels == 0, 10, labels).astype(label_dtype).reshape(-1, 1)
    return {"X": np.ascontiguousarray(images.transpose(2, 3, 1, 0)), "y": y}


def write_svhn(
    root: Path, num_train: int = 64, num_test: int = 32, seed: int = 0, *, compress: bool = True
) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train, test = synthetic_splits("svhn", num_train, num_test, seed)
    write_mat(root / SPLIT_FILES["train"], svhn_arrays(*train), compress=compress)
    write_mat(root / SPLIT_FILES["test"], svhn_arrays(*test), compress=compress)
    return root


def plain_dataset(root: Path, num: int, transform: Any) -> Any:
    """torchvision's SVHN (it reads the .mat files with scipy) over synthetic images."""
    from torchvision.datasets import SVHN

    write_svhn(root, num, 16, 0)

    class SyntheticSVHN(SVHN):
        def _check_integrity(self) -> bool:  # the published files' md5 sums cannot match
            return True

    return SyntheticSVHN(str(root), split="train", transform=transform)


SPEC = DATASETS.register("svhn", title="SVHN")(
    DatasetSpec(
        name="svhn",
        num_classes=10,
        in_channels=3,
        image_size=32,
        default_epochs=100,  # paper Sec. 6
        wd_baseline=1e-4,
        wd_smoothing=1e-4,
        augment=False,  # docs/methods.md §2: augmentation for CIFAR only
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        default_dir="~/.cache/rsmooth/data",
        load=load,
        write_synthetic=write_svhn,
        plain_dataset=plain_dataset,
    )
)
