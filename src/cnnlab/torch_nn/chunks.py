"""How the eager convolutions cut a batch into chunks that stay in the CPU cache."""

from __future__ import annotations

import torch


def images_per_chunk(limits: dict[str, int | None], x: torch.Tensor, bytes_per_image: int) -> int:
    """Images per chunk so that a chunk's buffer stays within ``limits[device type]`` bytes (at least one image;
    the whole batch where the limit is ``None``)."""
    limit = limits.get(x.device.type)
    if limit is None:
        return max(1, x.shape[0])
    return max(1, limit // max(1, bytes_per_image))
