"""torch.utils.data adapters for the torch engine (imported lazily: ``cnnlab.data`` itself does not need torch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler


class TorchDataset(torch.utils.data.Dataset):
    """Map-style dataset over in-memory arrays ``x`` (N, C, H, W) and ``y`` (N,), shared with NumPy (no copy).

    An int index gives one sample ``(x[i], y[i])``; a list/array of indices gives a whole batch at once, which is
    what :func:`make_dataloader` uses (one fancy-index per batch instead of N item calls plus collation).
    """

    def __init__(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> None:
        self.x = torch.as_tensor(x)
        self.y = torch.as_tensor(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"TorchDataset: x has {len(self.x)} samples but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(index, list | tuple | np.ndarray):
            index = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return self.x[index], self.y[index]


def make_dataloader(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    drop_last: bool = False,
    **kwargs: Any,
) -> DataLoader:
    """A ``DataLoader`` yielding ``(x_batch, y_batch)`` tensors, last partial batch included unless ``drop_last``.

    Shuffling uses a ``torch.Generator`` seeded with ``seed`` (fresh order each epoch, reproducible run to run).
    Extra ``kwargs`` go to ``DataLoader`` (e.g. ``pin_memory=True``; ``num_workers`` is rarely worth it for
    in-memory arrays).
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"make_dataloader: batch_size must be a positive integer, got {batch_size!r}")
    dataset = TorchDataset(x, y)
    if shuffle:
        generator = torch.Generator()
        if seed is not None:
            generator.manual_seed(seed)
        sampler: Any = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    batches = BatchSampler(sampler, batch_size=int(batch_size), drop_last=drop_last)
    return DataLoader(dataset, sampler=batches, batch_size=None, **kwargs)
