"""MNIST: 28x28 grayscale digits in the original IDX files, in torchvision's layout.

Files (``<root>/MNIST/raw/``, each ``.gz`` or un-gzipped): ``train-images-idx3-ubyte`` + ``train-labels-idx1-ubyte``
(60000 training images), ``t10k-images-idx3-ubyte`` + ``t10k-labels-idx1-ubyte`` (10000 test images). Missing files
are downloaded one by one. Splits (:class:`~cnnlab.data.splits.TailHoldout`): ``train`` = the first
``60000 - val_size`` training images (default: the first 50000, the assignment's x_train), ``val`` = the last
``val_size`` (default 10000), ``test`` = the t10k images; with ``val_source="test"``, ``train`` is all 60000 and
``val`` the test set.

Channel statistics: the usual (0.1307, 0.3081) over the 60000 official training images (we measure
0.13066 / 0.30811 on them).
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.data.acquire import FileDownload
from cnnlab.data.idx import IdxDatasetSpec
from cnnlab.data.spec import FileSpec
from cnnlab.data.splits import TailHoldout

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

# md5s of the original gzipped files as listed by Yann LeCun's page mirrors and torchvision.
MNIST = IdxDatasetSpec(
    name="mnist",
    title="MNIST",
    classes=MNIST_CLASSES,
    image_shape=(1, 28, 28),
    stats=((0.1307,), (0.3081,)),
    folder=Path("MNIST") / "raw",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    acquisition=FileDownload(),
    holdout=TailHoldout(val_size=10000),
    torchvision_layout=True,
    train=(
        FileSpec("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
        FileSpec("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
    ),
    test=(
        FileSpec("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
        FileSpec("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
    ),
)
