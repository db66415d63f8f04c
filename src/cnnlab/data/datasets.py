"""The dataset API: ``load_dataset(name, split)`` -> :class:`Dataset` (uint8 NCHW images, int64 labels, names).

Split rules (documented, seeded, identical on every machine):

MNIST (official files: 60000 training images, 10000 test images ``t10k``)
    ``train``  the first ``60000 - val_size`` training images (default: the first 50000, the seed's x_train);
    ``val``    the last ``val_size`` training images (default 10000);
    ``test``   the 10000 ``t10k`` images.
    ``val_source="test"``: ``train`` is all 60000 and ``val`` is the test set.

CIFAR-10 (official files: ``data_batch_1..5`` = 50000 training images, ``test_batch`` = 10000)
    ``val``    a holdout of ``val_size`` (default 5000) training images drawn with
               ``np.random.default_rng(seed).permutation(50000)[:val_size]``, kept in file order;
    ``train``  the other 45000, in file order;
    ``test``   ``test_batch``.
    ``val_source="test"`` (the seed notebook's setup): ``train`` is all 50000 and ``val`` is the test set.

``max_datapoints=N`` keeps the first N samples of the split *after* the split is formed (so it never moves a
sample between train and val), in the order above; ``None`` keeps all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data import cifar10, mnist
from cnnlab.data.download import download_file
from cnnlab.data.errors import DataCorruptError, DataError, DataNotFoundError, DownloadError
from cnnlab.data.sources import (
    CIFAR10_ARCHIVE,
    CIFAR10_DIR,
    CIFAR10_META_FILE,
    CIFAR10_MIRRORS,
    CIFAR10_TEST_FILE,
    CIFAR10_TRAIN_FILES,
    DATA_ENV,
    MNIST_CLASSES,
    MNIST_DIR,
    MNIST_MIRRORS,
    MNIST_RESOURCES,
    resolve_mirrors,
    resolve_root,
)
from cnnlab.data.transforms import CHANNEL_STATS, standardize, to_float

DATASETS: tuple[str, ...] = ("mnist", "cifar10")
SPLITS: tuple[str, ...] = ("train", "val", "test")
VAL_SOURCES: tuple[str, ...] = ("holdout", "test")
DEFAULT_VAL_SIZE = {"mnist": 10000, "cifar10": 5000}
_ALIASES = {"mnist": "mnist", "cifar10": "cifar10", "cifar-10": "cifar10", "cifar": "cifar10"}

PathLike = str | os.PathLike[str]


@dataclass(eq=False, repr=False)
class Dataset:
    """One split of a dataset, in memory.

    ``images``: uint8 (N, C, H, W) -- MNIST (N, 1, 28, 28), CIFAR-10 (N, 3, 32, 32);
    ``labels``: int64 (N,) in ``range(len(classes))``; ``classes``: class names; ``name``/``split``: where from.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    name: str
    split: str

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"Dataset.images must be (N, C, H, W), got shape {self.images.shape}")
        if self.images.dtype != np.uint8:
            raise ValueError(f"Dataset.images must be uint8, got {self.images.dtype}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"Dataset.labels must be ({len(self.images)},), got shape {self.labels.shape}")
        self.labels = self.labels.astype(np.int64, copy=False)
        self.classes = list(self.classes)

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


def canonical_name(name: str) -> str:
    """``"mnist"`` or ``"cifar10"`` (accepts ``cifar-10`` and ``cifar``, any case); ValueError otherwise."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return _ALIASES[key]


def _root_origin(root: PathLike | None) -> str:
    if root is not None and str(root) != "":
        return "given explicitly"
    if os.environ.get(DATA_ENV, "").strip():
        return f"from ${DATA_ENV}"
    return f"the default ./data (set ${DATA_ENV} or pass --data-dir to change it)"


def _size_text(n: int | None) -> str:
    if n is None:
        return ""
    return f", {n / 1e6:.1f} MB" if n >= 100_000 else f", {n:,} bytes"


# --------------------------------------------------------------------------------------------------- MNIST files


def _mnist_missing_message(root: Path, keys: Sequence[str], origin: str, failures: Sequence[str]) -> str:
    folder = root / MNIST_DIR
    lines = []
    if failures:
        lines += ["MNIST files are missing and downloading them failed:", *failures, ""]
    else:
        lines += ["MNIST files are missing (download is off)."]
    lines.append(f"Expected in {folder.resolve()}  (data root {root}, {origin}):")
    for key in keys:
        r = MNIST_RESOURCES[key]
        lines.append(f"    {r.filename}  (md5 {r.md5}{_size_text(r.size)}; the un-gzipped file also works)")
    lines += [
        "How to get them:",
        "  - run again with internet access and downloading on (the default), or",
        f"  - download them from {' or '.join(MNIST_MIRRORS)} and put them in {folder.resolve()}/, or",
        f"  - point --data-dir / ${DATA_ENV} at a folder that has MNIST/raw/ (an existing torchvision download works).",
    ]
    hints = _misplaced_hints(root, [MNIST_RESOURCES[k].filename for k in keys], MNIST_DIR)
    return "\n".join(lines + hints)


def _misplaced_hints(root: Path, filenames: Sequence[str], expected_dir: Path) -> list[str]:
    hints = []
    for name in filenames:
        for where in (root, root / "raw", root / expected_dir.parts[0]):
            for candidate in (where / name, where / name.removesuffix(".gz")):
                if candidate.is_file() and candidate.parent != root / expected_dir:
                    hints.append(f"Note: found {candidate}; the expected layout is <root>/{expected_dir}/{name}.")
    return hints[:4]


def _ensure_mnist(
    root: Path, keys: Sequence[str], *, download: bool, mirrors: Sequence[str] | str | None, progress: bool,
    origin: str, force: bool = False,
) -> dict[str, Path]:
    found = {k: mnist.find_file(root, k) for k in keys}
    missing = [k for k, p in found.items() if p is None or force]
    if not missing:
        return {k: p for k, p in found.items() if p is not None}
    if not download:
        raise DataNotFoundError(
            _mnist_missing_message(root, missing, origin, []),
            missing=[root / MNIST_DIR / MNIST_RESOURCES[k].filename for k in missing],
        )
    urls = resolve_mirrors(MNIST_MIRRORS, mirrors)
    failures: list[str] = []
    for i, key in enumerate(missing):
        r = MNIST_RESOURCES[key]
        try:
            found[key] = download_file(r.filename, root / MNIST_DIR, urls, r.md5, progress=progress)
        except DownloadError as exc:
            failures.append("  " + str(exc).replace("\n", "\n  "))
            if exc.unreachable and i + 1 < len(missing):
                rest = ", ".join(MNIST_RESOURCES[k].filename for k in missing[i + 1 :])
                failures.append(f"  not tried, as no mirror could be reached (offline?): {rest}")
                break
    if failures:
        still = [k for k in missing if found[k] is None or force]
        raise DownloadError(
            _mnist_missing_message(root, still or missing, origin, failures),
            missing=[root / MNIST_DIR / MNIST_RESOURCES[k].filename for k in still],
        )
    return {k: p for k, p in found.items() if p is not None}


# ------------------------------------------------------------------------------------------------ CIFAR-10 files


def _cifar_missing_message(root: Path, names: Sequence[str], origin: str, failures: Sequence[str]) -> str:
    folder = root / CIFAR10_DIR
    lines = []
    if failures:
        lines += ["CIFAR-10 files are missing and downloading them failed:", *failures, ""]
    else:
        lines += ["CIFAR-10 files are missing (download is off)."]
    lines.append(f"Expected in {folder.resolve()}  (data root {root}, {origin}):")
    lines += [f"    {n}" for n in names]
    lines += [
        f"  or the archive {(root / CIFAR10_ARCHIVE.filename).resolve()} "
        f"(md5 {CIFAR10_ARCHIVE.md5}{_size_text(CIFAR10_ARCHIVE.size)}), extracted on first use.",
        "How to get them:",
        "  - run again with internet access and downloading on (the default), or",
        f"  - download {CIFAR10_MIRRORS[0]}{CIFAR10_ARCHIVE.filename} into {root.resolve()}/, or",
        f"  - point --data-dir / ${DATA_ENV} at a folder that has cifar-10-batches-py/ "
        "(an existing torchvision download works).",
    ]
    return "\n".join(lines + _misplaced_hints(root, names, CIFAR10_DIR))


def _ensure_cifar(
    root: Path, names: Sequence[str], *, download: bool, mirrors: Sequence[str] | str | None, progress: bool,
    origin: str, force: bool = False,
) -> dict[str, Path]:
    folder = root / CIFAR10_DIR
    wanted = [*names, CIFAR10_META_FILE.filename]

    def missing_names() -> list[str]:
        return [n for n in names if not (folder / n).is_file()]

    archive = cifar10.archive_path(root)
    if force:
        if not download:
            raise ValueError("force=True needs download=True")
    elif not missing_names():
        return {n: folder / n for n in names}
    if archive.is_file() and not force:
        cifar10.extract_archive(archive, root, wanted)
        if not missing_names():
            return {n: folder / n for n in names}
    if not download:
        raise DataNotFoundError(
            _cifar_missing_message(root, missing_names(), origin, []), missing=[folder / n for n in missing_names()]
        )
    urls = resolve_mirrors(CIFAR10_MIRRORS, mirrors)
    try:
        download_file(CIFAR10_ARCHIVE.filename, root, urls, CIFAR10_ARCHIVE.md5, progress=progress)
    except DownloadError as exc:
        failure = "  " + str(exc).replace("\n", "\n  ")
        raise DownloadError(
            _cifar_missing_message(root, missing_names() or list(names), origin, [failure]),
            missing=[folder / n for n in missing_names()],
        ) from None
    if force:
        for n in wanted:
            (folder / n).unlink(missing_ok=True)
    cifar10.extract_archive(archive, root)  # fetched the whole archive: unpack all of it once
    still = missing_names()
    if still:
        raise DataNotFoundError(
            f"{archive}: the archive does not contain {', '.join(f'{CIFAR10_DIR}/{n}' for n in still)}",
            missing=[folder / n for n in still],
        )
    return {n: folder / n for n in names}


# ---------------------------------------------------------------------------------------------------- loading


def _check_args(name: str, split: str, val_source: str, max_datapoints: int | None) -> str:
    name = canonical_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if val_source not in VAL_SOURCES:
        raise ValueError(f"unknown val_source {val_source!r}; choose one of {', '.join(VAL_SOURCES)}")
    if max_datapoints is not None and (int(max_datapoints) != max_datapoints or max_datapoints < 1):
        raise ValueError(f"max_datapoints must be a positive integer or None, got {max_datapoints!r}")
    return name


def _val_size(name: str, val_size: int | None, n_train: int) -> int:
    size = DEFAULT_VAL_SIZE[name] if val_size is None else val_size
    if int(size) != size or not 0 < size < n_train:
        raise ValueError(f"val_size must be an integer in 1..{n_train - 1} for {name}, got {val_size!r}")
    return int(size)


def _owned(a: np.ndarray) -> np.ndarray:
    """A writable, C-contiguous array that does not keep a larger buffer alive."""
    if a.flags.owndata and a.flags.writeable and a.flags.c_contiguous:
        return a
    return np.array(a, copy=True, order="C")


def holdout_indices(n: int, val_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The CIFAR-10 holdout rule: ``(train_idx, val_idx)``, both sorted; val = first ``val_size`` of a seeded
    permutation of ``range(n)``."""
    perm = np.random.default_rng(seed).permutation(n)
    val = np.sort(perm[:val_size])
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask), val


def _read_source(
    name: str, source: str, root: Path, opts: dict
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images of an official file set (``source``: ``"train"`` or ``"test"``), after ensuring the files."""
    if name == "mnist":
        files = _ensure_mnist(root, [f"{source}-images", f"{source}-labels"], **opts)
        images, labels = mnist.load_pair(files[f"{source}-images"], files[f"{source}-labels"])
        return images, labels, list(MNIST_CLASSES)
    batch_names = [CIFAR10_TEST_FILE.filename] if source == "test" else [r.filename for r in CIFAR10_TRAIN_FILES]
    files = _ensure_cifar(root, batch_names, **opts)
    images, labels = cifar10.load_batches([files[n] for n in batch_names])
    return images, labels, cifar10.class_names(root)


def _source_of(split: str, val_source: str) -> str:
    return "test" if split == "test" or (split == "val" and val_source == "test") else "train"


def _select(
    name: str, split: str, images: np.ndarray, labels: np.ndarray, *, val_source: str, val_size: int | None,
    seed: int, max_datapoints: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the split rule (see the module docstring) and the ``max_datapoints`` limit."""
    if _source_of(split, val_source) == "train" and val_source == "holdout":
        size = _val_size(name, val_size, len(images))
        if name == "mnist":
            sl = slice(0, len(images) - size) if split == "train" else slice(len(images) - size, None)
            images, labels = images[sl], labels[sl]
        else:
            train_idx, val_idx = holdout_indices(len(images), size, seed)
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
    """Load one split (``"train"``, ``"val"``, ``"test"``) of ``"mnist"`` or ``"cifar10"``.

    See the module docstring for the exact split rules. ``root``: data root (else ``$CNNLAB_DATA``, else
    ``./data``). ``val_size``: ``None`` = 10000 (MNIST) / 5000 (CIFAR-10); ``seed`` picks the CIFAR-10 holdout.
    ``max_datapoints``: keep the first N of the split (after splitting). Missing files are downloaded
    (``download=True``; md5-verified, progress bar unless ``progress=False``, ``mirrors`` or
    ``$CNNLAB_DATA_MIRRORS`` replace the official URLs); otherwise, or if that fails, one
    :class:`DataNotFoundError` lists the expected files, where, and how to get them. Unreadable files raise
    :class:`DataCorruptError` naming the file and the problem. Existing files are read without md5 checks
    (re-packed copies are fine); use :func:`verify_dataset` for checksums.
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
    if isinstance(splits, str):
        splits = (splits,)
    limits = max_datapoints if isinstance(max_datapoints, dict) else dict.fromkeys(splits, max_datapoints)
    for split in splits:
        name = _check_args(name, split, val_source, limits.get(split))
    root_path = resolve_root(root)
    opts = {"download": download, "mirrors": mirrors, "progress": progress, "origin": _root_origin(root)}
    sources_needed = list(dict.fromkeys(_source_of(s, val_source) for s in splits))
    # make sure every needed file is there first, so one error lists everything that is missing
    if name == "mnist":
        _ensure_mnist(root_path, [f"{src}-{kind}" for src in sources_needed for kind in ("images", "labels")], **opts)
    else:
        test_names = [CIFAR10_TEST_FILE.filename] if "test" in sources_needed else []
        train_names = [r.filename for r in CIFAR10_TRAIN_FILES] if "train" in sources_needed else []
        _ensure_cifar(root_path, train_names + test_names, **opts)
    try:
        raw = {src: _read_source(name, src, root_path, opts) for src in sources_needed}
    except DataCorruptError as exc:
        raise DataCorruptError(
            exc.path,
            f"{exc.problem}. Replace the file: delete it and load again to download a fresh copy, or check "
            "all files with `cnnlab data verify`",
        ) from None
    out = {}
    for split in splits:
        images, labels, classes = raw[_source_of(split, val_source)]
        x, y = _select(name, split, images, labels, val_source=val_source, val_size=val_size, seed=seed,
                       max_datapoints=limits.get(split))
        out[split] = Dataset(x, y, classes, name, split)
    return out


NORMALIZATIONS: tuple[str, ...] = ("standard", "unit")


def prepare(
    dataset: Dataset,
    normalization: str = "standard",
    stats: tuple[Sequence[float], Sequence[float]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Model-ready arrays ``(x float32 (N, C, H, W), y int64 (N,))``.

    ``normalization="standard"``: per-channel ``(x/255 - mean) / std`` with ``stats`` = ``(mean, std)`` in [0, 1]
    units, by default :data:`CHANNEL_STATS` of the dataset (fixed published values, so every split is scaled the
    same way). ``"unit"``: ``x / 255`` in [0, 1].
    """
    if normalization == "unit":
        return to_float(dataset.images), dataset.labels
    if normalization != "standard":
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if stats is None:
        if dataset.name not in CHANNEL_STATS:
            raise ValueError(f"no default channel stats for dataset {dataset.name!r}; pass stats=(mean, std)")
        stats = CHANNEL_STATS[dataset.name]
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
    name = canonical_name(name)
    root_path = resolve_root(root)
    opts = {"download": True, "mirrors": mirrors, "progress": progress, "origin": _root_origin(root), "force": force}
    if name == "mnist":
        return list(_ensure_mnist(root_path, list(MNIST_RESOURCES), **opts).values())
    names = [r.filename for r in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE, CIFAR10_META_FILE)]
    return list(_ensure_cifar(root_path, names, **opts).values())


__all__ = [
    "DATASETS",
    "SPLITS",
    "DataError",
    "Dataset",
    "canonical_name",
    "download_dataset",
    "holdout_indices",
    "load_dataset",
    "load_splits",
    "prepare",
]
