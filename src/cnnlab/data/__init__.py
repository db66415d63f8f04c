"""Datasets for cnnlab: MNIST and CIFAR-10 from their standard files, verified, split, normalised.

Quick use::

    from cnnlab.data import load_dataset, prepare
    train = load_dataset("mnist", "train")          # Dataset: uint8 (50000, 1, 28, 28), int64 labels
    x, y = prepare(train)                           # float32 standardised, int64

Data root: explicit ``root`` > ``$CNNLAB_DATA`` > ``./data`` (torchvision layout, see :mod:`cnnlab.data.sources`).
Every data problem raises a :class:`DataError` with a message that names the file and the problem.
"""

from __future__ import annotations

from cnnlab.data.datasets import (
    DATASETS,
    DEFAULT_VAL_SIZE,
    NORMALIZATIONS,
    SPLITS,
    VAL_SOURCES,
    Dataset,
    canonical_name,
    download_dataset,
    holdout_indices,
    load_dataset,
    load_splits,
    prepare,
)
from cnnlab.data.errors import DataCorruptError, DataError, DataNotFoundError, DownloadError
from cnnlab.data.sources import CIFAR10_CLASSES, MNIST_CLASSES, resolve_root
from cnnlab.data.transforms import (
    CHANNEL_STATS,
    channel_stats,
    random_crop_flip,
    shift_images,
    standardize,
    to_float,
)
from cnnlab.data.verify import FileCheck, verify_dataset

__all__ = [
    "CHANNEL_STATS",
    "CIFAR10_CLASSES",
    "DATASETS",
    "DEFAULT_VAL_SIZE",
    "MNIST_CLASSES",
    "NORMALIZATIONS",
    "SPLITS",
    "VAL_SOURCES",
    "DataCorruptError",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "DownloadError",
    "FileCheck",
    "canonical_name",
    "channel_stats",
    "download_dataset",
    "holdout_indices",
    "load_dataset",
    "load_splits",
    "prepare",
    "random_crop_flip",
    "resolve_root",
    "shift_images",
    "standardize",
    "to_float",
    "verify_dataset",
]
