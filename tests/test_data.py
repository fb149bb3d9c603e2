"""The data layer: readers of each on-disk format, checks, subsets and on-device batching."""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from rsmooth.config import RunConfig
from rsmooth.data import DATASETS, DeviceBatches, Split, load_splits
from rsmooth.data.cifar import write_cifar_batch
from rsmooth.data.device import CROP_PADDING, epoch_seed
from rsmooth.data.fashion_mnist import write_fashion_mnist, write_idx
from rsmooth.data.loading import check_split, data_dir_of, random_subset
from rsmooth.data.svhn import svhn_arrays, write_mat
from rsmooth.data.synthetic import synthetic_arrays, synthetic_splits, write_synthetic
from rsmooth.errors import DataError

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")
NAMES = DATASETS.names()
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def real_fashion() -> tuple[Split, Split]:
    if not (REAL_FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no Fashion-MNIST in {REAL_FASHION} (apt-get install dataset-fashion-mnist)")
    return DATASETS.get("fashion-mnist").load(REAL_FASHION, False)


def normalize(images: torch.Tensor, name: str) -> torch.Tensor:
    spec = DATASETS.get(name)
    mean = torch.tensor(spec.mean).view(-1, 1, 1)
    std = torch.tensor(spec.std).view(-1, 1, 1)
    return (images.float() / 255 - mean) / std


# ------------------------------------------------------------------ readers
@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_is_one_complete_module(name):
    spec = DATASETS.get(name)
    assert spec.name == name
    assert callable(spec.load) and callable(spec.write_synthetic) and callable(spec.plain_dataset)
    assert DATASETS.title(name)  # its display name, for tables and figures


@pytest.mark.parametrize("name", NAMES)
def test_loader_reads_its_format(tmp_path, name):
    spec = DATASETS.get(name)
    root = write_synthetic(name, tmp_path, 64, 32, seed=3)
    splits = spec.load(root, False)
    for split, (images, labels) in zip(splits, synthetic_splits(name, 64, 32, 3), strict=True):
        size = spec.image_size
        assert split.images.shape == (len(labels), spec.in_channels, size, size)
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert split.images.is_contiguous() and split.images.device == CPU
        assert np.array_equal(split.images.numpy(), images)
        assert np.array_equal(split.labels.numpy(), labels)
        assert 0 <= int(split.labels.min()) and int(split.labels.max()) < spec.num_classes


@pytest.mark.parametrize(
    ("name", "epochs", "wd", "augment"),
    [
        ("fashion-mnist", 48, (1e-3, 1e-3), False),
        ("cifar10", 160, (1e-4, 1e-4), True),
        ("cifar100", 160, (1e-4, 1e-4), True),
        ("svhn", 100, (1e-4, 1e-4), False),
    ],
)
def test_spec_follows_the_paper_protocol(name, epochs, wd, augment):
    spec = DATASETS.get(name)
    assert spec.name == name and spec.default_epochs == epochs and spec.augment == augment
    assert (spec.default_weight_decay(False), spec.default_weight_decay(True)) == wd
    assert len(spec.mean) == len(spec.std) == spec.in_channels


def test_fashion_mnist_reads_plain_files_and_torchvision_folder(tmp_path):
    spec = DATASETS.get("fashion-mnist")
    plain = write_fashion_mnist(tmp_path / "plain", gz=False)
    nested = write_fashion_mnist(tmp_path / "tv" / "FashionMNIST" / "raw", seed=5)
    expected_plain, _ = synthetic_splits("fashion-mnist", 64, 32, 0)
    expected_nested, _ = synthetic_splits("fashion-mnist", 64, 32, 5)
    assert np.array_equal(spec.load(plain, False)[0].labels.numpy(), expected_plain[1])
    assert np.array_equal(spec.load(tmp_path / "tv", False)[0].labels.numpy(), expected_nested[1])
    assert nested.is_dir()


def test_fashion_mnist_agrees_with_torchvision_reader(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    root = write_fashion_mnist(tmp_path, gz=False)
    train, test = DATASETS.get("fashion-mnist").load(root, False)
    assert torch.equal(read_image_file(str(root / "train-images-idx3-ubyte")), train.images[:, 0])
    assert torch.equal(read_label_file(str(root / "t10k-labels-idx1-ubyte")), test.labels)


@pytest.mark.parametrize(("name", "cls"), [("cifar10", "CIFAR10"), ("cifar100", "CIFAR100")])
def test_cifar_agrees_with_torchvision(tmp_path, monkeypatch, name, cls):
    import torchvision.datasets
    import torchvision.datasets.cifar

    # The synthetic files cannot match torchvision's checksums of the published ones.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    root = write_synthetic(name, tmp_path)
    ours = DATASETS.get(name).load(root, False)
    for train, split in zip((True, False), ours, strict=True):
        theirs = getattr(torchvision.datasets, cls)(str(root), train=train)
        assert np.array_equal(theirs.data.transpose(0, 3, 1, 2), split.images.numpy())
        assert theirs.targets == split.labels.tolist()


@pytest.mark.parametrize("compress", [True, False])
def test_svhn_reads_scipy_written_mat(tmp_path, compress):
    scipy_io = pytest.importorskip("scipy.io")
    (images, labels), _ = synthetic_splits("svhn", 40, 1, 0)
    for label_dtype in (np.uint8, np.float64):
        scipy_io.savemat(
            tmp_path / "train_32x32.mat",
            svhn_arrays(images, labels, label_dtype),
            do_compression=compress,
        )
        scipy_io.savemat(tmp_path / "test_32x32.mat", svhn_arrays(images, labels))
        train, _ = DATASETS.get("svhn").load(tmp_path, False)
        assert np.array_equal(train.images.numpy(), images)
        assert np.array_equal(train.labels.numpy(), labels)


def test_svhn_maps_label_10_to_digit_0(tmp_path):
    root = write_synthetic("svhn", tmp_path, 40, 10)
    train, _ = DATASETS.get("svhn").load(root, False)
    assert set(train.labels.tolist()) == set(range(10))


def test_real_fashion_mnist(real_fashion):
    train, test = real_fashion
    spec = DATASETS.get("fashion-mnist")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    pixels = train.images.double() / 255
    assert pixels.mean().item() == pytest.approx(spec.mean[0], abs=5e-4)
    assert pixels.std().item() == pytest.approx(spec.std[0], abs=5e-4)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("name", NAMES)
def test_missing_files_say_where_and_how(tmp_path, name):
    folder = tmp_path / "nothing-here"
    with pytest.raises(DataError) as err:
        DATASETS.get(name).load(folder, False)
    assert str(folder) in str(err.value) and "--download" in str(err.value)
    if name == "fashion-mnist":
        assert "apt-get install dataset-fashion-mnist" in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_a_folder_where_a_file_belongs_is_named_not_reported_missing(tmp_path, name):
    root = write_synthetic(name, tmp_path / "data", 20, 10)
    victim = max((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.unlink()
    victim.mkdir()
    with pytest.raises(DataError) as err:
        DATASETS.get(name).load(root, False)
    assert victim.name in str(err.value) and "not found" not in str(err.value)
    assert "directory" in str(err.value)


def _truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _rewrite_gz(path: Path, edit) -> Path:
    path.write_bytes(gzip.compress(edit(bytearray(gzip.decompress(path.read_bytes())))))
    return path


def _bad_magic(raw: bytearray) -> bytearray:
    raw[2] = 0x0D  # element type float instead of unsigned byte
    return raw


CORRUPTIONS = {
    "fashion-mnist truncated gzip": (
        "fashion-mnist",
        lambda root: _truncate(root / "train-images-idx3-ubyte.gz"),
    ),
    "fashion-mnist bad magic": (
        "fashion-mnist",
        lambda root: _rewrite_gz(root / "t10k-labels-idx1-ubyte.gz", _bad_magic),
    ),
    "fashion-mnist short payload": (
        "fashion-mnist",
        lambda root: _rewrite_gz(root / "t10k-images-idx3-ubyte.gz", lambda raw: raw[:-100]),
    ),
    "fashion-mnist count mismatch": (
        "fashion-mnist",
        lambda root: write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(63, np.uint8)),
    ),
    "cifar10 truncated pickle": (
        "cifar10",
        lambda root: _truncate(root / "cifar-10-batches-py" / "test_batch"),
    ),
    "cifar10 wrong image size": (
        "cifar10",
        lambda root: write_cifar_batch(
            root / "cifar-10-batches-py" / "data_batch_2",
            np.zeros((4, 3, 16, 16), np.uint8),
            np.zeros(4),
            "labels",
        ),
    ),
    "cifar10 foreign object in pickle": (
        "cifar10",
        lambda root: _write_bytes(
            root / "cifar-10-batches-py" / "data_batch_1",
            pickle.dumps({"data": os.getcwd, "labels": []}, protocol=2),
        ),
    ),
    "cifar100 truncated pickle": (
        "cifar100",
        lambda root: _truncate(root / "cifar-100-python" / "train"),
    ),
    "cifar100 no fine labels": (
        "cifar100",
        lambda root: write_cifar_batch(
            root / "cifar-100-python" / "test", np.zeros((2, 3, 32, 32), np.uint8), [0, 1], "labels"
        ),
    ),
    "svhn truncated mat": ("svhn", lambda root: _truncate(root / "train_32x32.mat")),
    "svhn not a mat": ("svhn", lambda root: _write_bytes(root / "test_32x32.mat", b"<html>")),
    "svhn no labels": (
        "svhn",
        lambda root: write_mat(root / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8)}),
    ),
}


def _write_bytes(path: Path, raw: bytes) -> Path:
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_file_is_named(tmp_path, case):
    name, corrupt = CORRUPTIONS[case]
    root = write_synthetic(name, tmp_path)
    broken = corrupt(root)
    with pytest.raises(DataError) as err:
        DATASETS.get(name).load(root, False)
    assert str(broken) in str(err.value)


def test_labels_out_of_range_fail_in_load_splits(tmp_path):
    root = write_fashion_mnist(tmp_path)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.full(32, 12, np.uint8))
    with pytest.raises(DataError, match=r"labels span \[12, 12\]"):
        load_splits(RunConfig(data="fashion-mnist", data_dir=str(root)))


def test_check_split_rejects_wrong_shapes():
    spec = DATASETS.get("cifar10")
    good = Split(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64))
    check_split(spec, good, "ok")
    for bad in (
        Split(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), good.labels),
        Split(good.images.float(), good.labels),
        Split(good.images, torch.zeros(3, dtype=torch.int64)),
        Split(good.images, good.labels.int()),
    ):
        with pytest.raises(DataError, match="the split"):
            check_split(spec, bad, "the split")


def test_default_data_dir_is_expanded():
    spec = DATASETS.get("cifar10")
    assert data_dir_of(RunConfig(data="cifar10"), spec) == Path.home() / ".cache/rsmooth/data"
    assert data_dir_of(RunConfig(data="cifar10", data_dir="/x"), spec) == Path("/x")


# ------------------------------------------------------------------ download (faked)
def _fake_torchvision_class(name: str, calls: list):
    def fake(root: str, download: bool = False, **_):
        calls.append((root, download))
        if name == "fashion-mnist":
            write_fashion_mnist(Path(root) / "FashionMNIST" / "raw")
        else:
            write_synthetic(name, Path(root))

    return fake


@pytest.mark.parametrize(
    ("name", "attribute"),
    [("fashion-mnist", "FashionMNIST"), ("cifar10", "CIFAR10"), ("cifar100", "CIFAR100")],
)
def test_download_fetches_then_reads(tmp_path, monkeypatch, name, attribute):
    import torchvision.datasets

    calls: list = []
    monkeypatch.setattr(torchvision.datasets, attribute, _fake_torchvision_class(name, calls))
    with pytest.raises(DataError):
        DATASETS.get(name).load(tmp_path, False)
    train, _ = DATASETS.get(name).load(tmp_path, True)
    assert calls == [(str(tmp_path), True)] and len(train) == 64
    DATASETS.get(name).load(tmp_path, True)  # files present: no second download
    assert len(calls) == 1


def test_svhn_download_uses_torchvision_urls(tmp_path, monkeypatch):
    import torchvision.datasets.utils

    fetched = []

    def fake_download_url(url, root, filename, md5):
        fetched.append((url, filename, md5))
        train, test = synthetic_splits("svhn", 64, 32, 0)
        write_mat(Path(root) / filename, svhn_arrays(*(train if "train" in filename else test)))

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download_url)
    train, test = DATASETS.get("svhn").load(tmp_path, True)
    assert [f[1] for f in fetched] == ["train_32x32.mat", "test_32x32.mat"]
    assert all(url.startswith("http") and len(md5) == 32 for url, _, md5 in fetched)
    assert (len(train), len(test)) == (64, 32)


def test_download_failure_is_a_data_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(root, download=False, **_):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DataError, match="downloading Fashion-MNIST into .* failed"):
        DATASETS.get("fashion-mnist").load(tmp_path, True)


# ------------------------------------------------------------------ subsets
def test_subset_size_determinism_and_untouched_validation(tmp_path):
    root = write_fashion_mnist(tmp_path, 64, 32)
    base = RunConfig(data="fashion-mnist", data_dir=str(root))
    _, full_train, full_test, _ = load_splits(base)
    _, train, test, _ = load_splits(base.replace(subset=0.25, seed=7))
    _, again, _, _ = load_splits(base.replace(subset=0.25, seed=7))
    _, other, _, _ = load_splits(base.replace(subset=0.25, seed=8))
    assert len(train) == round(0.25 * 64) == 16
    assert torch.equal(train.images, again.images) and torch.equal(train.labels, again.labels)
    assert not torch.equal(train.images, other.images)
    assert torch.equal(test.images, full_test.images) and torch.equal(test.labels, full_test.labels)
    full_rows = {
        image.numpy().tobytes(): int(label)
        for image, label in zip(full_train.images, full_train.labels, strict=True)
    }
    for image, label in zip(train.images, train.labels, strict=True):
        assert full_rows[image.numpy().tobytes()] == int(label)


def test_subset_is_uniform_over_samples():
    split = Split(torch.zeros(20, 1, 1, 1, dtype=torch.uint8), torch.arange(20))
    counts = torch.zeros(20)
    for seed in range(200):
        counts += torch.bincount(random_subset(split, 0.5, seed).labels, minlength=20)
    # Each sample is drawn with probability 1/2: 100 +- 7 (one sd) times in 200 draws.
    assert counts.sum() == 2000 and counts.min() > 65 and counts.max() < 135


def test_empty_subset_is_a_data_error():
    split = Split(torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.arange(10))
    with pytest.raises(DataError, match="empty"):
        random_subset(split, 0.01, 0)


# ------------------------------------------------------------------ DeviceBatches
def _indexed_split(num: int, name: str, seed: int = 0) -> Split:
    """Random pixels (so that shifts and flips are visible) with labels = sample index."""
    spec = DATASETS.get(name)
    generator = torch.Generator().manual_seed(seed)
    shape = (num, spec.in_channels, spec.image_size, spec.image_size)
    images = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    return Split(images, torch.arange(num))


def _collect(batches: DeviceBatches, epoch: int = 0, seed: int = 0):
    return list(batches.batches(epoch, seed))


@pytest.mark.parametrize("name", ["cifar10", "svhn", "fashion-mnist"])
@pytest.mark.parametrize("train", [True, False])
def test_batches_cover_every_sample_once(name, train):
    split = _indexed_split(70, name)
    batches = DeviceBatches(split, DATASETS.get(name), CPU, 32, train=train)
    collected = _collect(batches, epoch=3, seed=1)
    assert len(batches) == 3 and [len(y) for _, y in collected] == [32, 32, 6]
    labels = torch.cat([y for _, y in collected])
    assert labels.dtype == torch.int64 and sorted(labels.tolist()) == list(range(70))
    assert all(x.shape[1:] == split.images.shape[1:] for x, _ in collected)
    assert all(x.dtype == torch.float32 for x, _ in collected)
    if not train:
        assert labels.tolist() == list(range(70))


@pytest.mark.parametrize("name", ["svhn", "fashion-mnist"])
def test_unaugmented_training_batches_are_the_normalized_samples(name):
    split = _indexed_split(50, name)
    batches = DeviceBatches(split, DATASETS.get(name), CPU, 16, train=True)
    for images, labels in _collect(batches):
        torch.testing.assert_close(images, normalize(split.images[labels], name))


def test_eval_batches_are_in_order_unaugmented_and_stable():
    split = _indexed_split(40, "cifar10")
    batches = DeviceBatches(split, DATASETS.get("cifar10"), CPU, 16, train=False)
    first, later = _collect(batches, 0, 0), _collect(batches, 5, 9)
    images = torch.cat([x for x, _ in first])
    torch.testing.assert_close(images, normalize(split.images, "cifar10"))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, later, strict=True))


def test_same_epoch_and_seed_replay_exactly():
    split = _indexed_split(70, "cifar10")
    batches = DeviceBatches(split, DATASETS.get("cifar10"), CPU, 32, train=True)
    replay = DeviceBatches(split, DATASETS.get("cifar10"), CPU, 32, train=True)
    for a, b in zip(_collect(batches, 4, 2), _collect(replay, 4, 2), strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    order = batches.epoch_plan(4, 2).order
    assert not torch.equal(order, batches.epoch_plan(5, 2).order)
    assert not torch.equal(order, batches.epoch_plan(4, 3).order)


def test_epoch_seed_is_pure_and_spread():
    seeds = {epoch_seed(seed, epoch) for seed in range(20) for epoch in range(200)}
    assert len(seeds) == 4000 and all(0 <= s < 2**63 for s in seeds)
    assert epoch_seed(3, 17) == epoch_seed(3, 17)


def test_augmented_batches_are_padded_crops_and_flips_of_their_samples():
    name = "cifar10"
    split = _indexed_split(70, name)
    batches = DeviceBatches(split, DATASETS.get(name), CPU, 32, train=True)
    plan = batches.epoch_plan(2, 6)
    size, pad = 32, CROP_PADDING
    position = 0
    for images, labels in _collect(batches, 2, 6):
        assert images.shape[1:] == (3, size, size)
        for image, label in zip(images, labels, strict=True):
            sample = int(plan.order[position])
            assert int(label) == sample
            padded = torch.zeros(3, size + 2 * pad, size + 2 * pad, dtype=torch.uint8)
            padded[:, pad : pad + size, pad : pad + size] = split.images[sample]
            dy, dx = int(plan.dy[position]), int(plan.dx[position])
            crop = padded[:, dy : dy + size, dx : dx + size]
            if plan.flip[position]:
                crop = crop.flip(-1)
            torch.testing.assert_close(image, normalize(crop, name))
            position += 1
    assert position == 70


def test_augmentation_draws_are_uniform():
    spec = DATASETS.get("cifar10")
    split = Split(torch.zeros(9000, 3, 32, 32, dtype=torch.uint8), torch.zeros(9000).long())
    plan = DeviceBatches(split, spec, CPU, 128, train=True).epoch_plan(0, 0)
    assert 0.47 < plan.flip.float().mean().item() < 0.53
    for offsets in (plan.dy, plan.dx):
        counts = torch.bincount(offsets, minlength=2 * CROP_PADDING + 1)
        assert len(counts) == 2 * CROP_PADDING + 1 and counts.min() > 850 and counts.max() < 1150
    assert not torch.equal(plan.dy, plan.dx)


def test_channels_last_and_dtype_are_respected():
    split = _indexed_split(20, "cifar10")
    spec = DATASETS.get("cifar10")
    plain = _collect(DeviceBatches(split, spec, CPU, 8, train=True))
    fast = _collect(
        DeviceBatches(split, spec, CPU, 8, train=True, channels_last=True, dtype=torch.bfloat16)
    )
    for (x, y), (x_fast, y_fast) in zip(plain, fast, strict=True):
        assert x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
        assert x_fast.is_contiguous(memory_format=torch.channels_last)
        assert x_fast.dtype == torch.bfloat16 and torch.equal(y, y_fast)
        torch.testing.assert_close(x_fast.float(), x, atol=0.02, rtol=0.01)


def test_real_fashion_mnist_normalizes_to_zero_mean_unit_std(real_fashion):
    train, _ = real_fashion
    batches = DeviceBatches(train, DATASETS.get("fashion-mnist"), CPU, 5000, train=False)
    total = count = squares = 0.0
    for images, _ in batches.batches(0, 0):
        total += images.double().sum().item()
        squares += images.double().square().sum().item()
        count += images.numel()
    mean = total / count
    assert abs(mean) < 0.01 and abs(squares / count - mean**2 - 1) < 0.01


def test_learnable_labels_are_separable_by_brightness():
    # The writers' promise that a model can learn the synthetic labels.
    for name in NAMES:
        images, labels = synthetic_arrays(name, 200, 0)
        brightness = images[:, 0].reshape(200, -1).mean(axis=1)
        predicted = np.clip(np.round((brightness - 16) / 22), 0, 9)
        assert np.array_equal(predicted, labels % 10)


def test_device_batches_reject_non_uint8_images():
    split = _indexed_split(4, "cifar10")
    with pytest.raises(ValueError, match="uint8"):
        DeviceBatches(
            dataclasses.replace(split, images=split.images.float()),
            DATASETS.get("cifar10"),
            CPU,
            2,
            train=False,
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu_crops_without_host_syncs():
    from rsmooth.data.device import crop_flip

    spec = DATASETS.get("cifar10")
    split = _indexed_split(300, "cifar10")
    cuda = torch.device("cuda")
    batches = DeviceBatches(split, spec, cuda, 64, train=True, channels_last=True)
    torch.cuda.set_sync_debug_mode("error")
    try:
        collected = [(x.float().sum(), y) for x, y in batches.batches(1, 0)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sorted(torch.cat([y for _, y in collected]).tolist()) == list(range(300))
    plan = batches.epoch_plan(1, 0)
    on_cpu = crop_flip(
        torch.nn.functional.pad(split.images, (CROP_PADDING,) * 4),
        *(t.cpu() for t in plan),
        spec.image_size,
    )
    assert torch.equal(crop_flip(batches.images, *plan, spec.image_size).cpu(), on_cpu)
