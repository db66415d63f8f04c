"""Datasets for cnnlab: MNIST and CIFAR-10 from their standard files, verified, split, normalised, batched.

Quick use::

    from cnnlab.data import load_dataset, prepare, iterate_batches
    train = load_dataset("mnist", "train")          # Dataset: uint8 (50000, 1, 28, 28), int64 labels
    x, y = prepare(train)                           # float32 standardised, int64
    for xb, yb in iterate_batches(x, y, 64, shuffle=True, seed=0): ...

Data root: explicit ``root`` > ``$CNNLAB_DATA`` > ``./data`` (torchvision layout, see :mod:`cnnlab.data.sources`).
Every data problem raises a :class:`DataError` with a message that names the file and the problem.
The torch adapters ``TorchDataset`` / ``make_dataloader`` import torch only when first used.
"""

from __future__ import annotations

from typing import Any

from cnnlab.data.batches import iterate_batches, num_batches
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

_LAZY_TORCH = ("TorchDataset", "make_dataloader")


def __getattr__(name: str) -> Any:
    if name in _LAZY_TORCH:
        from cnnlab.data import torch_adapter

        return getattr(torch_adapter, name)
    raise AttributeError(f"module 'cnnlab.data' has no attribute {name!r}")


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
    "TorchDataset",
    "canonical_name",
    "channel_stats",
    "download_dataset",
    "holdout_indices",
    "iterate_batches",
    "load_dataset",
    "load_splits",
    "make_dataloader",
    "num_batches",
    "prepare",
    "random_crop_flip",
    "resolve_root",
    "shift_images",
    "standardize",
    "to_float",
    "verify_dataset",
]
