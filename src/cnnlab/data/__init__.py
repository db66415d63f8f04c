"""Datasets for cnnlab: MNIST and CIFAR-10 from their standard files, verified, split, normalised.

Quick use::

    from cnnlab.data import load_dataset, prepare
    train = load_dataset("mnist", "train")          # Dataset: uint8 (50000, 1, 28, 28), int64 labels
    x, y = prepare(train)                           # float32 standardised, int64

Each dataset is one :class:`DatasetSpec` in :data:`DATASETS` (:mod:`cnnlab.data.mnist`, :mod:`cnnlab.data.cifar10`);
:func:`register_dataset` adds one, e.g. another IDX dataset is an :class:`IdxDatasetSpec` with its own files.
Data root: explicit ``root`` > ``$CNNLAB_DATA`` > ``./data`` (torchvision layout, see :mod:`cnnlab.data.location`).
Every data problem raises a :class:`DataError` with a message that names the file and the problem.
"""

from __future__ import annotations

from cnnlab.data.acquire import ArchiveDownload, FileDownload
from cnnlab.data.cifar10 import CIFAR10, CIFAR10_CLASSES
from cnnlab.data.datasets import (
    NORMALIZATIONS,
    Dataset,
    download_dataset,
    load_dataset,
    load_splits,
    prepare,
)
from cnnlab.data.errors import DataCorruptError, DataError, DataNotFoundError, DownloadError
from cnnlab.data.idx import IdxDatasetSpec
from cnnlab.data.location import resolve_root
from cnnlab.data.mnist import MNIST, MNIST_CLASSES
from cnnlab.data.pickle_batches import PickleBatchSpec
from cnnlab.data.registry import DATASETS, canonical_name, get_dataset, register_dataset, unregister_dataset
from cnnlab.data.spec import DatasetSpec, FileSpec
from cnnlab.data.splits import SPLITS, VAL_SOURCES, SeededHoldout, TailHoldout, holdout_indices
from cnnlab.data.transforms import channel_stats, random_crop_flip, shift_data, shift_images, standardize, to_float
from cnnlab.data.verify import FileCheck, verify_dataset

__all__ = [
    "CIFAR10",
    "CIFAR10_CLASSES",
    "DATASETS",
    "MNIST",
    "MNIST_CLASSES",
    "NORMALIZATIONS",
    "SPLITS",
    "VAL_SOURCES",
    "ArchiveDownload",
    "DataCorruptError",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "DatasetSpec",
    "DownloadError",
    "FileCheck",
    "FileDownload",
    "FileSpec",
    "IdxDatasetSpec",
    "PickleBatchSpec",
    "SeededHoldout",
    "TailHoldout",
    "canonical_name",
    "channel_stats",
    "download_dataset",
    "get_dataset",
    "holdout_indices",
    "load_dataset",
    "load_splits",
    "prepare",
    "random_crop_flip",
    "register_dataset",
    "resolve_root",
    "shift_data",
    "shift_images",
    "standardize",
    "to_float",
    "unregister_dataset",
    "verify_dataset",
]
