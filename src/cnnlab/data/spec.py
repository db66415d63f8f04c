"""What defines a dataset: one :class:`DatasetSpec` holds its files, mirrors, md5s, folder, reader, classes,
channel statistics and split rule, so the loading, download and verify code never asks for a dataset by name.

A spec is data: a new dataset in a format that already has a spec class (:class:`~cnnlab.data.idx.IdxDatasetSpec`,
:class:`~cnnlab.data.pickle_batches.PickleBatchSpec`) is one constructor call plus
:func:`~cnnlab.data.registry.register_dataset`. The two strategies a spec is built from are protocols here:
:class:`Acquisition` (how missing files get onto disk, in :mod:`cnnlab.data.acquire`) and :class:`SplitRule`
(which training images form the validation split, in :mod:`cnnlab.data.splits`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

#: Official file sets every spec can read: the training files and the test files.
SOURCES: tuple[str, ...] = ("train", "test")

#: ``(mean, std)`` per channel, in [0, 1] pixel units.
Stats = tuple[tuple[float, ...], tuple[float, ...]]
#: An index into the N training images: a slice or an int64 array of positions.
Index = slice | np.ndarray
#: Reads one file and returns a one-line summary (``"12 images 28x28"``); raises ``DataCorruptError``.
Reader = Callable[[Path], str]


@dataclass(frozen=True)
class FileSpec:
    """One published file: its name, the md5 its publishers list (``None``: none), its size in bytes (``None``)."""

    name: str
    md5: str | None = None
    size: int | None = None


class SplitRule(Protocol):
    """Which of the N official training images are the validation split (``val_source="holdout"``)."""

    @property
    def val_size(self) -> int:
        """Default number of validation images."""
        ...

    def indices(self, n: int, val_size: int, seed: int) -> tuple[Index, Index]:
        """``(train, val)`` indices into ``range(n)``, disjoint, together all of it, each in file order."""
        ...


class Acquisition(Protocol):
    """How the files of a dataset get onto disk when they are missing, and how a missing-file message says so."""

    def unpack_local(self, spec: DatasetSpec, root: Path, files: Sequence[FileSpec]) -> None:
        """Make ``files`` available from what is already on disk (extract a present archive), if that applies."""
        ...

    def fetch(
        self, spec: DatasetSpec, root: Path, files: Sequence[FileSpec], urls: Sequence[str], *, progress: bool,
        force: bool,
    ) -> list[str]:
        """Download what provides ``files`` (md5-checked); return one indented text per download that failed."""
        ...

    def describe(self, spec: DatasetSpec, file: FileSpec) -> str:
        """One expected file as a missing-file message lists it."""
        ...

    def alternatives(self, spec: DatasetSpec, root: Path) -> list[str]:
        """Message lines after the file list: other things on disk that would do (an archive)."""
        ...

    def manual_step(self, spec: DatasetSpec, root: Path) -> str:
        """How to fetch the files by hand, as one clause (``"download ... into ..."``)."""
        ...

    def optional_files(self, spec: DatasetSpec, root: Path) -> list[tuple[Path, FileSpec, Reader]]:
        """Files that may be on disk but are not needed (an archive), with their reader, for ``verify``."""
        ...


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(ABC):
    """Everything that defines a dataset; subclasses add the file lists and the reader of one file format.

    ``name``: canonical lower-case name, ``aliases``: other accepted names; ``title``: as people write it
    (``"CIFAR-10"``); ``classes``: class names, label ``i`` is ``classes[i]``; ``image_shape``: ``(C, H, W)``;
    ``stats``: per-channel ``(mean, std)`` in [0, 1] units used by ``prepare(normalization="standard")``;
    ``folder``: where the files live, relative to the data root; ``mirrors``: base URLs of the official
    downloads; ``acquisition``: how missing files are fetched; ``holdout``: the validation split rule;
    ``torchvision_layout``: the folder is torchvision's, so its downloads work as they are.
    """

    name: str
    title: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    stats: Stats
    folder: Path
    mirrors: tuple[str, ...]
    acquisition: Acquisition
    holdout: SplitRule
    aliases: tuple[str, ...] = ()
    torchvision_layout: bool = False

    def __post_init__(self) -> None:
        where = f"DatasetSpec {self.name!r}"
        if not self.name or self.name != self.name.strip().lower():
            raise ValueError(f"{where}: name must be non-empty, lower case, without surrounding spaces")
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"{where}: image_shape must be (C, H, W) of positive sizes, got {self.image_shape}")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"{where}: classes must list at least 2 distinct names, got {self.classes}")
        mean, std = self.stats
        if not len(mean) == len(std) == self.image_shape[0] or min(std) <= 0:
            raise ValueError(
                f"{where}: stats must be (mean, std) with {self.image_shape[0]} value(s) each and std > 0, "
                f"got {self.stats}"
            )
        if self.folder.is_absolute():
            raise ValueError(f"{where}: folder must be relative to the data root, got {self.folder}")
        if not self.mirrors:
            raise ValueError(f"{where}: give at least one download mirror (base URL)")
        if self.holdout.val_size < 1:
            raise ValueError(f"{where}: the holdout rule's val_size must be >= 1, got {self.holdout.val_size}")

    # -------------------------------------------------------------------------------------------- files

    @abstractmethod
    def source_files(self, source: str) -> tuple[FileSpec, ...]:
        """The files read for an official file set, ``"train"`` or ``"test"`` (see :data:`SOURCES`)."""

    @property
    def extra_files(self) -> tuple[FileSpec, ...]:
        """Files that are downloaded and verified but not needed to load images (e.g. class names)."""
        return ()

    @property
    def required_files(self) -> tuple[FileSpec, ...]:
        """Every file loading needs: the training files, then the test files."""
        return tuple(dict.fromkeys(f for source in SOURCES for f in self.source_files(source)))

    @property
    def files(self) -> tuple[FileSpec, ...]:
        """Every file of the dataset: :attr:`required_files`, then :attr:`extra_files`."""
        return tuple(dict.fromkeys((*self.required_files, *self.extra_files)))

    def path(self, root: Path, file: FileSpec) -> Path:
        """Where ``file`` is expected: ``root / folder / file.name``."""
        return root / self.folder / file.name

    def locate(self, root: Path, file: FileSpec) -> Path | None:
        """The existing file on disk that stands for ``file`` (the expected path by default), or ``None``."""
        path = self.path(root, file)
        return path if path.is_file() else None

    def file_note(self, file: FileSpec) -> str | None:
        """A remark on ``file`` for missing-file messages (e.g. that an un-gzipped copy works too)."""
        return None

    # ------------------------------------------------------------------------------------------ reading

    @abstractmethod
    def read(self, source: str, paths: Mapping[FileSpec, Path]) -> tuple[np.ndarray, np.ndarray]:
        """All images of an official file set: uint8 ``(N, *image_shape)`` and int64 labels ``(N,)``.

        ``paths`` maps each of :meth:`source_files` to the file on disk.
        """

    def class_names(self, root: Path) -> list[str]:
        """The class names of the files under ``root`` (by default :attr:`classes`)."""
        return list(self.classes)

    @abstractmethod
    def summarize(self, file: FileSpec, path: Path) -> str:
        """Read ``path`` as ``file`` and summarise it in a few words; raises ``DataCorruptError`` if unreadable."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)
