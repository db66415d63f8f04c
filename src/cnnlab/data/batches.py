"""Mini-batches for the NumPy engine."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches :func:`iterate_batches` yields for ``n`` samples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = False,
    seed: int | np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x_batch, y_batch)`` covering every sample exactly once (the last batch may be smaller).

    Without ``shuffle`` batches are contiguous views in order; with it, one permutation drawn from
    ``np.random.default_rng(seed)`` (or the given Generator) decides the order, and batches are copies.
    """
    if len(x) != len(y):
        raise ValueError(f"iterate_batches: x has {len(x)} samples but y has {len(y)}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"iterate_batches: batch_size must be a positive integer, got {batch_size!r}")
    n = len(x)
    stop = n - n % batch_size if drop_last else n
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]
    else:
        for start in range(0, stop, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
