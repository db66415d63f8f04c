"""The dataset API: ``load_dataset(name, split)`` -> :class:`Dataset` (uint8 NCHW images, int64 labels, names).

Everything dataset-specific comes from the registered :class:`~cnnlab.data.spec.DatasetSpec` (see
:mod:`cnnlab.data.registry`): files and folder, reader, classes, channel statistics, and the split rule.

Splits (seeded, identical on every machine; each dataset's module documents its rule):
    ``test``  the official test files;
    ``val``   ``val_source="holdout"`` (default): ``val_size`` official training images chosen by the spec's rule
              (MNIST: the last 10000; CIFAR-10: a seeded holdout of 5000); ``val_source="test"``: the test set;
    ``train`` the other official training images (``val_source="test"``: all of them).

``max_datapoints=N`` keeps the first N samples of the split *after* the split is formed (so it never moves a
sample between train and val), in file order; ``None`` keeps all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.acquire import ensure_files
from cnnlab.data.errors import DataCorruptError
from cnnlab.data.location import PathLike, resolve_root, root_origin
from cnnlab.data.registry import DATASETS, get_dataset
from cnnlab.data.spec import DatasetSpec
from cnnlab.data.splits import SPLITS, VAL_SOURCES, source_of
from cnnlab.data.transforms import standardize, to_float

NORMALIZATIONS: tuple[str, ...] = ("standard", "unit")


@dataclass(eq=False, repr=False)
class Dataset:
    """One split of a dataset, in memory.

    ``images``: uint8 (N, C, H, W) -- MNIST (N, 1, 28, 28), CIFAR-10 (N, 3, 32, 32);
    ``labels``: int64 (N,) in ``range(len(classes))``; ``classes``: class names; ``name``/``split``: where from;
    ``spec``: the dataset's spec (looked up from ``name`` in the registry when not given; ``None`` if unknown).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    name: str
    split: str
    spec: DatasetSpec | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"Dataset.images must be (N, C, H, W), got shape {self.images.shape}")
        if self.images.dtype != np.uint8:
            raise ValueError(f"Dataset.images must be uint8, got {self.images.dtype}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"Dataset.labels must be ({len(self.images)},), got shape {self.labels.shape}")
        if self.labels.dtype.kind not in "iu":
            raise TypeError(f"Dataset.labels must be integer class indices, got dtype {self.labels.dtype} (floats "
                            "would be truncated)")
        self.labels = self.labels.astype(np.int64, copy=False)
        self.classes = list(self.classes)
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            index = int(np.argmax((self.labels < 0) | (self.labels >= len(self.classes))))
            raise ValueError(f"Dataset.labels[{index}] = {int(self.labels[index])} is out of range for "
                             f"{len(self.classes)} classes (0..{len(self.classes) - 1})")
        if self.spec is None:
            self.spec = DATASETS.get(self.name)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"images={self.images.dtype}{tuple(self.images.shape)}, classes={len(self.classes)})"
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return c, h, w

    def class_counts(self) -> np.ndarray:
        """Number of samples per class, int64 (num_classes,)."""
        return np.bincount(self.labels, minlength=self.num_classes)


def _check_args(split: str, val_source: str, max_datapoints: int | None) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if val_source not in VAL_SOURCES:
        raise ValueError(f"unknown val_source {val_source!r}; choose one of {', '.join(VAL_SOURCES)}")
    if max_datapoints is not None and (int(max_datapoints) != max_datapoints or max_datapoints < 1):
        raise ValueError(f"max_datapoints must be a positive integer or None, got {max_datapoints!r}")


def _val_size(spec: DatasetSpec, val_size: int | None, n_train: int) -> int:
    size = spec.holdout.val_size if val_size is None else val_size
    if int(size) != size or not 0 < size < n_train:
        raise ValueError(f"val_size must be an integer in 1..{n_train - 1} for {spec.name}, got {val_size!r}")
    return int(size)


def _owned(a: np.ndarray) -> np.ndarray:
    """A writable, C-contiguous array that does not keep a larger buffer alive."""
    if a.flags.owndata and a.flags.writeable and a.flags.c_contiguous:
        return a
    return np.array(a, copy=True, order="C")


def _select(
    spec: DatasetSpec, split: str, images: np.ndarray, labels: np.ndarray, *, val_source: str,
    val_size: int | None, seed: int, max_datapoints: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the spec's split rule (see the module docstring) and the ``max_datapoints`` limit."""
    if source_of(split, val_source) == "train" and val_source == "holdout":
        size = _val_size(spec, val_size, len(images))
        train_idx, val_idx = spec.holdout.indices(len(images), size, seed)
        idx = train_idx if split == "train" else val_idx
        images, labels = images[idx], labels[idx]
    if max_datapoints is not None:
        images, labels = images[:max_datapoints], labels[:max_datapoints]
    return _owned(images), _owned(labels.astype(np.int64, copy=False))


def load_dataset(
    name: str,
    split: str = "train",
    root: PathLike | None = None,
    *,
    max_datapoints: int | None = None,
    download: bool = True,
    val_source: str = "holdout",
    val_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    mirrors: Sequence[str] | str | None = None,
) -> Dataset:
    """Load one split (``"train"``, ``"val"``, ``"test"``) of a registered dataset (``"mnist"``, ``"cifar10"``).

    See the module docstring for the split rules. ``root``: data root (else ``$CNNLAB_DATA``, else ``./data``).
    ``val_size``: ``None`` = the spec's default (MNIST 10000, CIFAR-10 5000); ``seed`` picks a seeded holdout.
    ``max_datapoints``: keep the first N of the split (after splitting). Missing files are downloaded
    (``download=True``; md5-verified, progress bar unless ``progress=False``, ``mirrors`` or
    ``$CNNLAB_DATA_MIRRORS`` replace the official URLs); otherwise, or if that fails, one
    :class:`DataNotFoundError` lists every missing file of the dataset, where, and how to get them. Unreadable
    files raise :class:`DataCorruptError` naming the file and the problem. Existing files are read without md5
    checks (re-packed copies are fine); use :func:`verify_dataset` for checksums.
    """
    return load_splits(
        name, (split,), root, max_datapoints=max_datapoints, download=download, val_source=val_source,
        val_size=val_size, seed=seed, progress=progress, mirrors=mirrors,
    )[split]


def load_splits(
    name: str,
    splits: Sequence[str] = SPLITS,
    root: PathLike | None = None,
    *,
    max_datapoints: int | dict[str, int | None] | None = None,
    download: bool = True,
    val_source: str = "holdout",
    val_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    mirrors: Sequence[str] | str | None = None,
) -> dict[str, Dataset]:
    """Several splits at once, reading each file only once: ``{"train": Dataset, "val": ..., "test": ...}``.

    Same rules and arguments as :func:`load_dataset`; ``max_datapoints`` may also be a dict per split
    (e.g. ``{"train": 1000}`` limits only the training split).
    """
    spec = get_dataset(name)
    if isinstance(splits, str):
        splits = (splits,)
    limits = max_datapoints if isinstance(max_datapoints, dict) else dict.fromkeys(splits, max_datapoints)
    for split in splits:
        _check_args(split, val_source, limits.get(split))
    root_path = resolve_root(root)
    sources = list(dict.fromkeys(source_of(s, val_source) for s in splits))
    # every needed file is made sure of first, so one error lists everything that is missing
    paths = ensure_files(spec, root_path, [f for src in sources for f in spec.source_files(src)],
                         download=download, mirrors=mirrors, progress=progress, origin=root_origin(root))
    try:
        raw = {src: spec.read(src, paths) for src in sources}
        classes = spec.class_names(root_path)
    except DataCorruptError as exc:
        raise DataCorruptError(
            exc.path,
            f"{exc.problem}. Replace the file: delete it and load again to download a fresh copy, or check "
            "all files with `cnnlab data verify`",
        ) from None
    out = {}
    for split in splits:
        images, labels = raw[source_of(split, val_source)]
        x, y = _select(spec, split, images, labels, val_source=val_source, val_size=val_size, seed=seed,
                       max_datapoints=limits.get(split))
        out[split] = Dataset(x, y, classes, spec.name, split, spec)
    return out


def prepare(
    dataset: Dataset,
    normalization: str = "standard",
    stats: tuple[Sequence[float], Sequence[float]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Model-ready arrays ``(x float32 (N, C, H, W), y int64 (N,))``.

    ``normalization="standard"``: per-channel ``(x/255 - mean) / std`` with ``stats`` = ``(mean, std)`` in [0, 1]
    units, by default the ``stats`` of the dataset's spec (fixed published values, so every split is scaled the
    same way). ``"unit"``: ``x / 255`` in [0, 1].
    """
    if normalization == "unit":
        return to_float(dataset.images), dataset.labels
    if normalization != "standard":
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if stats is None:
        if dataset.spec is None:
            raise ValueError(f"no default channel stats for dataset {dataset.name!r}; pass stats=(mean, std)")
        stats = dataset.spec.stats
    mean, std = stats
    return standardize(dataset.images, mean, std), dataset.labels


def download_dataset(
    name: str,
    root: PathLike | None = None,
    *,
    mirrors: Sequence[str] | str | None = None,
    progress: bool = True,
    force: bool = False,
) -> list[Path]:
    """Make sure every file of ``name`` is present under the data root, downloading what is missing
    (everything if ``force``); returns the dataset's file paths. Downloads are md5-verified."""
    spec = get_dataset(name)
    paths = ensure_files(spec, resolve_root(root), spec.files, download=True, mirrors=mirrors, progress=progress,
                         origin=root_origin(root), force=force)
    return list(paths.values())
