"""Integration tests on the real MNIST and CIFAR-10 files, found through $CNNLAB_DATA (CI sets it to
../shared/data). Skipped, with the reason, when the variable is unset or the files are not there."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import CIFAR10, MNIST, channel_stats, holdout_indices, load_dataset, prepare, verify_dataset

pytestmark = pytest.mark.realdata

ROOT = Path(os.environ["CNNLAB_DATA"]) if os.environ.get("CNNLAB_DATA") else None
FILES = {
    "mnist": ["MNIST/raw/train-images-idx3-ubyte*", "MNIST/raw/train-labels-idx1-ubyte*",
              "MNIST/raw/t10k-images-idx3-ubyte*", "MNIST/raw/t10k-labels-idx1-ubyte*"],
    "cifar10": [f"cifar-10-batches-py/{n}" for n in
                ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")],
}


def _skip_reason(name: str) -> str | None:
    if ROOT is None:
        return "real datasets not configured: set $CNNLAB_DATA to a folder with MNIST/raw and cifar-10-batches-py"
    absent = [pattern for pattern in FILES[name] if not list(ROOT.glob(pattern))]
    return f"real {name} files not in $CNNLAB_DATA={ROOT}: {', '.join(absent)}" if absent else None


needs_mnist = pytest.mark.skipif(_skip_reason("mnist") is not None, reason=str(_skip_reason("mnist")))
needs_cifar = pytest.mark.skipif(_skip_reason("cifar10") is not None, reason=str(_skip_reason("cifar10")))


@cache
def _load(name: str, split: str, val_source: str = "holdout"):
    return load_dataset(name, split, download=False, val_source=val_source, progress=False)


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # all 60000
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@needs_mnist
@pytest.mark.parametrize(("split", "n"), [("train", 50000), ("val", 10000), ("test", 10000)])
def test_mnist_splits(split, n):
    ds = _load("mnist", split)
    assert len(ds) == n and ds.images.shape == (n, 1, 28, 28) and ds.labels.shape == (n,)
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    assert ds.classes == [str(d) for d in range(10)]


@needs_mnist
def test_mnist_labels_and_pixels():
    train = _load("mnist", "train")
    val = _load("mnist", "val")
    test = _load("mnist", "test")
    full = _load("mnist", "train", "test")
    assert len(full) == 60000
    assert full.class_counts().tolist() == MNIST_TRAIN_COUNTS
    assert (train.class_counts() + val.class_counts()).tolist() == MNIST_TRAIN_COUNTS
    assert test.class_counts().tolist() == MNIST_TEST_COUNTS
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    np.testing.assert_array_equal(val.images, full.images[50000:])  # val = the last 10000
    (mean,), (std,) = channel_stats(full.images)
    assert mean * 255 == pytest.approx(33.3184, abs=0.01)
    assert std * 255 == pytest.approx(78.5675, abs=0.01)
    assert full.images.mean(dtype=np.float64) == pytest.approx(33.3184, abs=0.01)  # independent of channel_stats
    assert (mean, std) == pytest.approx((MNIST.stats[0][0], MNIST.stats[1][0]), abs=1e-3)


@needs_cifar
@pytest.mark.parametrize(("split", "n"), [("train", 45000), ("val", 5000), ("test", 10000)])
def test_cifar_splits(split, n):
    ds = _load("cifar10", split)
    assert len(ds) == n and ds.images.shape == (n, 3, 32, 32) and ds.labels.shape == (n,)
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@needs_cifar
def test_cifar_labels_and_pixels():
    train = _load("cifar10", "train")
    val = _load("cifar10", "val")
    test = _load("cifar10", "test")
    full = _load("cifar10", "train", "test")
    assert len(full) == 50000
    assert full.class_counts().tolist() == [5000] * 10
    assert test.class_counts().tolist() == [1000] * 10
    assert (train.class_counts() + val.class_counts()).tolist() == [5000] * 10
    assert full.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    train_idx, val_idx = holdout_indices(50000, 5000, seed=0)
    np.testing.assert_array_equal(train.images, full.images[train_idx])
    np.testing.assert_array_equal(val.labels, full.labels[val_idx])
    mean, std = channel_stats(full.images)
    np.testing.assert_allclose(np.array(mean) * 255, [125.3, 122.95, 113.9], atol=0.35)
    np.testing.assert_allclose(np.array(std) * 255, [63.0, 62.1, 66.7], atol=0.8)  # published; JPEG copies a bit less
    np.testing.assert_allclose(mean, CIFAR10.stats[0], atol=0.002)


@needs_cifar
def test_cifar_prepare_is_roughly_standard():
    train = _load("cifar10", "train")
    x, y = prepare(train)
    assert x.dtype == np.float32 and x.shape == (45000, 3, 32, 32) and y.dtype == np.int64
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=0.02)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, atol=0.02)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_real_files_verify(name):
    if reason := _skip_reason(name):
        pytest.skip(reason)
    checks = verify_dataset(name)
    for check in checks:
        if check.required:
            assert check.ok and check.status in ("ok", "repacked", "unverified"), (check.path, check.message)
