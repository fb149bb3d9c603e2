"""Data sets, selected by name, and their on-device batching."""

from rsmooth.data import cifar, fashion_mnist, svhn  # noqa: F401  (fill the registry)
from rsmooth.data.device import DeviceBatches
from rsmooth.data.loading import load_splits
from rsmooth.data.registry import DATASETS, DatasetSpec, Split

__all__ = ["DATASETS", "DatasetSpec", "DeviceBatches", "Split", "load_splits"]
