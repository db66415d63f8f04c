"""Split rules: how the official training files become ``train`` and ``val`` (``test`` is the official test set).

``val_source="holdout"``: the spec's :class:`~cnnlab.data.spec.SplitRule` picks ``val_size`` training images as
``val``, the rest are ``train``. ``val_source="test"``: ``train`` is every training image and ``val`` is the test
set. Both rules below keep file order inside each split and are identical on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")
VAL_SOURCES: tuple[str, ...] = ("holdout", "test")


def source_of(split: str, val_source: str) -> str:
    """The official file set (``"train"`` or ``"test"``) that ``split`` is taken from."""
    return "test" if split == "test" or (split == "val" and val_source == "test") else "train"


@dataclass(frozen=True)
class TailHoldout:
    """``val`` = the last ``val_size`` of the N training images, ``train`` = the ``N - val_size`` before them."""

    val_size: int

    def indices(self, n: int, val_size: int, seed: int) -> tuple[slice, slice]:
        """``(slice(0, n - val_size), slice(n - val_size, n))``; ``seed`` plays no part."""
        return slice(0, n - val_size), slice(n - val_size, n)


def holdout_indices(n: int, val_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``, both sorted: val = the first ``val_size`` of
    ``np.random.default_rng(seed).permutation(n)``, train = the other indices."""
    perm = np.random.default_rng(seed).permutation(n)
    val = np.sort(perm[:val_size])
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask), val


@dataclass(frozen=True)
class SeededHoldout:
    """``val`` = a seeded random draw of ``val_size`` training images (:func:`holdout_indices`), in file order."""

    val_size: int

    def indices(self, n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return holdout_indices(n, val_size, seed)
