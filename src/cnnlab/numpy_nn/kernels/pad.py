"""Padding of image batches ``(N, C, H, W)`` in torch's four modes, its backward pass, and torch's size limits.

The convolution layers pad first and then run an *unpadded* convolution ("pad, then unpadded conv", which is also
how torch treats the non-zero padding modes), so every conv algorithm sees an already padded input ``xp``.
"""

from __future__ import annotations

import numpy as np

from cnnlab.geometry import PADDING_MODES, Pair, Sides

__all__ = ["Padding2d", "check_padding_fits", "normalise_sides", "pad2d", "pad2d_backward"]

#: Padding of both spatial dimensions, per side: ``((top, bottom), (left, right))``.
Padding2d = tuple[Sides, Sides]


def normalise_sides(sides: Padding2d | Pair | int) -> Padding2d:
    """``((top, bottom), (left, right))`` from an int (every side), a pair ``(ph, pw)`` or the full form."""
    if isinstance(sides, int | np.integer):
        return ((int(sides),) * 2, (int(sides),) * 2)
    first, second = sides
    if isinstance(first, int | np.integer) and isinstance(second, int | np.integer):
        return ((int(first),) * 2, (int(second),) * 2)
    (top, bottom), (left, right) = first, second  # type: ignore[misc]
    return ((int(top), int(bottom)), (int(left), int(right)))


def _source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of the padded axis, the input position it copies (the non-zero padding modes)."""
    index = np.arange(-before, size + after)
    if mode == "reflect":  # mirror without repeating the edge: -1 -> 1, size -> size - 2
        index = np.abs(index)
        return np.where(index >= size, 2 * (size - 1) - index, index)
    if mode == "replicate":  # repeat the edge pixel
        return np.clip(index, 0, size - 1)
    if mode == "circular":  # wrap around
        return index % size
    raise ValueError(f"pad2d: padding mode must be one of {PADDING_MODES} (or 'constant'), got {mode!r}")


def check_padding_fits(layer: str, hw: Pair, sides: Padding2d, mode: str) -> None:
    """torch's limits, per side and dimension: ``reflect`` needs padding < size, ``circular`` padding <= size."""
    if mode in ("zeros", "replicate"):
        return
    for dim, (size, (before, after)) in enumerate(zip(hw, sides, strict=True)):
        worst = max(before, after)
        if (mode == "reflect" and worst >= size) or (mode == "circular" and worst > size):
            rule = "smaller than" if mode == "reflect" else "at most"
            axis = "height" if dim == 0 else "width"
            raise ValueError(f"{layer}: padding_mode={mode!r} needs padding {rule} the input {axis}; got padding "
                             f"{worst} for an input {axis} of {size}")


def pad2d(x: np.ndarray, sides: Padding2d | Pair | int, mode: str = "zeros", value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` (e.g. ``(N, C, H, W)`` -> ``(N, C, top + H + bottom, left + W + right)``).

    ``sides``: ``((top, bottom), (left, right))``, a pair ``(ph, pw)`` or an int (the same on every side).
    ``mode``: ``'zeros'`` (or ``'constant'`` with ``value``), ``'reflect'`` (mirror without repeating the edge),
    ``'replicate'`` (repeat the edge), ``'circular'`` (wrap around) -- torch's padding modes.
    Returns ``x`` itself when there is nothing to pad.
    """
    (top, bottom), (left, right) = normalise_sides(sides)
    if top == bottom == left == right == 0:
        return x
    height, width = x.shape[-2:]
    if mode in ("zeros", "constant"):
        out = np.full((*x.shape[:-2], height + top + bottom, width + left + right), value, dtype=x.dtype)
        out[..., top:top + height, left:left + width] = x
        return out
    rows = _source_index(height, top, bottom, mode)
    cols = _source_index(width, left, right, mode)
    return x[..., rows[:, None], cols[None, :]]


def pad2d_backward(grad_padded: np.ndarray, sides: Padding2d | Pair | int, mode: str = "zeros") -> np.ndarray:
    """Gradient of :func:`pad2d` with respect to its input (its adjoint).

    Zero padding: crop. Other modes: each padded pixel is a copy of an input pixel, so its gradient is added back
    onto that pixel -- first the padding rows onto their source rows, then the padding columns.
    """
    (top, bottom), (left, right) = normalise_sides(sides)
    if top == bottom == left == right == 0:
        return grad_padded
    hp, wp = grad_padded.shape[-2:]
    height, width = hp - top - bottom, wp - left - right
    if mode in ("zeros", "constant"):
        return grad_padded[..., top:top + height, left:left + width]
    rows = _source_index(height, top, bottom, mode)
    cols = _source_index(width, left, right, mode)
    folded = grad_padded[..., top:top + height, :].copy()  # the interior rows map onto themselves
    for position in [*range(top), *range(top + height, hp)]:
        folded[..., rows[position], :] += grad_padded[..., position, :]
    out = folded[..., left:left + width].copy()
    for position in [*range(left), *range(left + width, wp)]:
        out[..., cols[position]] += folded[..., position]
    return out
