"""Where the data lives on disk and where it comes from: folder layout, official URLs, published md5s.

The layout is torchvision's, so an existing torchvision download works as is::

    <root>/MNIST/raw/train-images-idx3-ubyte.gz      (or the same name without .gz)
    <root>/MNIST/raw/train-labels-idx1-ubyte.gz
    <root>/MNIST/raw/t10k-images-idx3-ubyte.gz
    <root>/MNIST/raw/t10k-labels-idx1-ubyte.gz
    <root>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <root>/cifar-10-python.tar.gz                    (optional; extracted on first use)

``<root>`` is, in order: an explicit argument, ``$CNNLAB_DATA``, or ``./data``.
Download mirrors can be replaced with ``$CNNLAB_DATA_MIRRORS`` (whitespace-separated base URLs; a file is fetched
from ``<base>/<file name>``) or the ``mirrors`` argument of the download functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "CNNLAB_DATA"
MIRRORS_ENV = "CNNLAB_DATA_MIRRORS"
DEFAULT_ROOT = Path("data")


@dataclass(frozen=True)
class Resource:
    """One published file: its name, the md5 its publishers list, and its size in bytes (``None``: not fixed)."""

    filename: str
    md5: str
    size: int | None = None


MNIST_DIR = Path("MNIST") / "raw"
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# md5s of the original gzipped files as listed by Yann LeCun's page mirrors and torchvision.
MNIST_RESOURCES: dict[str, Resource] = {
    "train-images": Resource("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
    "train-labels": Resource("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
    "test-images": Resource("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
    "test-labels": Resource("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
}

CIFAR10_DIR = Path("cifar-10-batches-py")
CIFAR10_MIRRORS: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_ARCHIVE = Resource("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170_498_071)
# md5s of the files inside the official archive (as torchvision lists them).
CIFAR10_TRAIN_FILES: tuple[Resource, ...] = (
    Resource("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    Resource("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    Resource("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    Resource("data_batch_4", "634d18415352ddfa80567beed471001a"),
    Resource("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
)
CIFAR10_TEST_FILE = Resource("test_batch", "40351d587109b95175f43aff81a1287e")
CIFAR10_META_FILE = Resource("batches.meta", "5ff9c542aee3614f3951f8cda6e48888")

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$CNNLAB_DATA`` if set and non-empty, else ``./data``.

    The path is returned expanded (``~``) but not required to exist.
    """
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT


def resolve_mirrors(default: Sequence[str], mirrors: Sequence[str] | str | None = None) -> list[str]:
    """Base URLs to try in order: ``mirrors`` if given, else ``$CNNLAB_DATA_MIRRORS`` if set, else ``default``."""
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "").strip()
        mirrors = env.split() if env else list(default)
    elif isinstance(mirrors, str):
        mirrors = mirrors.split()
    out = [m if m.endswith("/") else m + "/" for m in mirrors]
    if not out:
        raise ValueError("no download mirrors given (empty list)")
    return out
