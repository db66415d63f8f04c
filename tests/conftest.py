"""Suite-wide fixtures: tiny MNIST and CIFAR-10 files in the real formats, for commands that need data.

The file builders live in ``tests/data/datafixtures.py``; this folder (``tests/``) is on ``sys.path`` because pytest
inserts the directory of a root-level ``conftest.py`` (no ``__init__.py`` files here).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from data.datafixtures import make_cifar, make_mnist

#: Enough images for the real split rules (MNIST val = last 10000 of train, CIFAR-10 holdout = 5000).
TINY_MNIST_TRAIN, TINY_CIFAR_PER_BATCH = 10_100, 1_010


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding small but complete MNIST (10100 train / 60 test) and CIFAR-10 (5050 / 60) files."""
    root = tmp_path_factory.mktemp("tiny-data")
    make_mnist(root, n_train=TINY_MNIST_TRAIN, n_test=60, gz=False)
    make_cifar(root, n_per_batch=TINY_CIFAR_PER_BATCH, n_test=60)
    return root
