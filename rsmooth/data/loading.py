"""From a run config to checked train/validation splits on the host."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from rsmooth.data.registry import DATASETS, DatasetSpec, Split
from rsmooth.errors import DataError

if TYPE_CHECKING:
    from rsmooth.config import RunConfig


def load_splits(cfg: RunConfig) -> tuple[DatasetSpec, Split, Split, Split | None]:
    """The data set's spec, its (possibly subsampled) training split, its full test split and
    the held-out part of the training set (None when ``cfg.holdout`` is 0).

    The validation set is the official test split, always complete (docs/methods.md §2).
    """
    spec, full, test = read_data(cfg)
    train, holdout = own_splits(cfg, full)
    return spec, train, test, holdout


def read_data(cfg: RunConfig) -> tuple[DatasetSpec, Split, Split]:
    """The data set's spec and its full training and test splits, read and checked."""
    spec = DATASETS.get(cfg.data)
    data_dir = data_dir_of(cfg, spec)
    train, test = spec.load(data_dir, cfg.download)
    check_split(spec, train, f"{spec.name} training split in {data_dir}")
    check_split(spec, test, f"{spec.name} test split in {data_dir}")
    return spec, train, test


def own_splits(cfg: RunConfig, train: Split) -> tuple[Split, Split | None]:
    """A run's own training split and held-out part, drawn from its seed: the ``subset``
    fraction of the full training split, less the class-stratified ``holdout`` part."""
    if cfg.subset < 1:
        train = random_subset(train, cfg.subset, cfg.seed)
    holdout = None
    if cfg.holdout > 0:
        train, holdout = stratified_holdout(train, cfg.holdout, cfg.seed)
    return train, holdout


def load_run_splits(
    cfgs: Sequence[RunConfig],
) -> tuple[DatasetSpec, list[Split], Split, Split | None]:
    """``load_splits`` for K runs trained together (they share data set, subset and held-out
    fractions, and with a held-out part the seed): the data read once, each run's training
    split (one object shared by the runs whose splits cannot differ), and the validation and
    held-out splits they share."""
    spec, full, test = read_data(cfgs[0])
    per_seed = cfgs[0].subset < 1 or cfgs[0].holdout > 0  # else the seed does not pick samples
    drawn: dict[int | None, tuple[Split, Split | None]] = {}
    for cfg in cfgs:
        key = cfg.seed if per_seed else None
        if key not in drawn:
            drawn[key] = own_splits(cfg, full)
    holdout = next(iter(drawn.values()))[1]
    trains = [drawn[cfg.seed if per_seed else None][0] for cfg in cfgs]
    return spec, trains, test, holdout


def check_available(cfg: RunConfig) -> None:
    """The data set's files can be read (a sweep checks each of its data sets once, up front)."""
    spec = DATASETS.get(cfg.data)
    spec.load(data_dir_of(cfg, spec), False)


def data_dir_of(cfg: RunConfig, spec: DatasetSpec) -> Path:
    return Path(cfg.data_dir or spec.default_dir).expanduser()


def check_split(spec: DatasetSpec, split: Split, what: str) -> None:
    """Shapes, dtypes and label range as the spec promises, or a DataError naming ``what``."""
    images, labels = split.images, split.labels
    expected = (spec.in_channels, spec.image_size, spec.image_size)
    if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != expected:
        raise DataError(
            f"{what}: images of shape {tuple(images.shape)} and dtype {images.dtype}, "
            f"expected (N, {', '.join(map(str, expected))}) uint8"
        )
    if labels.dtype != torch.int64 or labels.dim() != 1 or len(labels) != len(images):
        raise DataError(
            f"{what}: labels of shape {tuple(labels.shape)} and dtype {labels.dtype} "
            f"for {len(images)} images"
        )
    if len(labels) == 0:
        raise DataError(f"{what}: no samples")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= spec.num_classes:
        raise DataError(f"{what}: labels span [{low}, {high}], outside [0, {spec.num_classes - 1}]")


def random_subset(split: Split, fraction: float, seed: int) -> Split:
    """``round(fraction * N)`` samples chosen uniformly at random (paper Table 2).

    The choice depends on ``seed`` alone, so every method compared at one seed trains on the
    same subset; the indices are kept in file order.
    """
    size = round(fraction * len(split))
    if size < 1:
        raise DataError(f"subset {fraction:g} of {len(split)} training samples is empty")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(split), generator=generator)[:size].sort().values
    return Split(images=split.images[chosen].contiguous(), labels=split.labels[chosen])


HOLDOUT_STREAM = 0x686F6C646F7574  # "holdout" in ASCII: a seed stream apart from the subset's


def stratified_holdout(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(train, held out): ``round(fraction * n_c)`` samples of every class c go to the held-out
    part, chosen uniformly at random within the class; both parts keep file order.

    Stratified, so that a small held-out set (750 images at 10% of 1/8 Fashion-MNIST) has every
    class in its training proportion and selection is not swayed by the class mix. The choice
    depends on ``seed`` alone (its own generator stream, independent of the subset's draw), so
    every method compared at one seed trains and selects on the same images.
    """
    generator = torch.Generator().manual_seed(seed ^ HOLDOUT_STREAM)
    held: list[torch.Tensor] = []
    for label in torch.unique(split.labels).tolist():
        members = (split.labels == label).nonzero().flatten()
        take = round(fraction * len(members))
        held.append(members[torch.randperm(len(members), generator=generator)[:take]])
    chosen = torch.cat(held).sort().values
    if len(chosen) == 0 or len(chosen) == len(split):
        raise DataError(
            f"holdout {fraction:g} of {len(split)} training samples leaves "
            f"{len(split) - len(chosen)} to train on and {len(chosen)} to hold out "
            "(allowed: a fraction that leaves both non-empty)"
        )
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[chosen] = False
    return (
        Split(images=split.images[keep].contiguous(), labels=split.labels[keep]),
        Split(images=split.images[chosen].contiguous(), labels=split.labels[chosen]),
    )


def fetch_or_fail(what: str, folder: Path, fetch: Callable[[], object]) -> None:
    """Run a torchvision download into ``folder``; a network or disk failure is a DataError."""
    try:
        fetch()
    except (OSError, RuntimeError, ValueError) as err:
        raise DataError(
            f"downloading {what} into {folder} failed ({err}); pass --data-dir to a writable "
            "folder, or fetch the files on a machine with network access"
        ) from None
