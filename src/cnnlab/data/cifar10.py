"""CIFAR-10: 32x32 colour images of 10 classes in the original python-pickle batches, in torchvision's layout.

Files (``<root>/cifar-10-batches-py/``): ``data_batch_1`` .. ``data_batch_5`` (50000 training images),
``test_batch`` (10000), ``batches.meta`` (class names; the standard names are used when it is absent). They come in
the archive ``<root>/cifar-10-python.tar.gz``, which is downloaded when files are missing and extracted on first
use. Splits (:class:`~cnnlab.data.splits.SeededHoldout`): ``val`` = a holdout of ``val_size`` (default 5000)
training images, ``np.random.default_rng(seed).permutation(50000)[:val_size]`` kept in file order, ``train`` = the
other 45000 in file order, ``test`` = ``test_batch``; with ``val_source="test"`` (the assignment notebook's setup),
``train`` is all 50000 and ``val`` the test set.

Channel statistics: the published statistics of the 50000 official training images (pixel mean/std over all
images, i.e. 125.3/123.0/113.9 and 63.0/62.1/66.7 on 0..255). Not the often-quoted (0.2023, 0.1994, 0.2010), which
are mean per-image stds. ``cnnlab.data.channel_stats`` computes them from the data you actually have.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.data.acquire import ArchiveDownload
from cnnlab.data.pickle_batches import PickleBatchSpec
from cnnlab.data.spec import FileSpec
from cnnlab.data.splits import SeededHoldout

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

# md5s of the archive and of the files inside it, as torchvision lists them.
CIFAR10 = PickleBatchSpec(
    name="cifar10",
    aliases=("cifar-10", "cifar"),
    title="CIFAR-10",
    classes=CIFAR10_CLASSES,
    image_shape=(3, 32, 32),
    stats=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    folder=Path("cifar-10-batches-py"),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    acquisition=ArchiveDownload(FileSpec("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170_498_071)),
    holdout=SeededHoldout(val_size=5000),
    torchvision_layout=True,
    train_files=(
        FileSpec("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        FileSpec("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        FileSpec("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        FileSpec("data_batch_4", "634d18415352ddfa80567beed471001a"),
        FileSpec("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ),
    test_files=(FileSpec("test_batch", "40351d587109b95175f43aff81a1287e"),),
    meta_file=FileSpec("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
)
