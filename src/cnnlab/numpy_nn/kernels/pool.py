"""Max and average pooling of (already padded) image batches ``(N, C, H, W)``, forward and backward, and adaptive
pooling (a fixed output size, torch's bins).

Each kernel is a pair ``forward(xp, ...) -> (y, cache)`` / ``backward(grad_out, cache) -> dL/dxp``: one vectorised
pass per kernel position ``(p, q)`` (reading ``xp[..., tap(p*dh, sh, H_out), tap(q*dw, sw, W_out)]``), so windows
may overlap, strides need not divide the input, and the padding is done by the layer (``-inf`` for max pooling,
zeros for average pooling; ``ceil_mode`` adds the padding its last, partial windows need on the bottom/right).

Adaptive pooling splits each axis of size ``I`` into ``O`` bins, bin ``i`` covering
``floor(i*I/O) .. ceil((i+1)*I/O) - 1`` (torch's boundaries: bins may overlap by one pixel when ``O`` does not
divide ``I``), and pools each bin: one vectorised pass per output position ``(i, j)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from cnnlab.geometry import Pair
from cnnlab.numpy_nn.kernels.windows import output_hw, tap

__all__ = ["PoolCache", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_bins", "adaptive_max_pool2d",
           "adaptive_max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "avg_pool_divisor", "max_pool2d",
           "max_pool2d_backward"]


class PoolCache(NamedTuple):
    """What a pooling backward pass needs from its forward pass."""

    padded_shape: tuple[int, ...]
    kernel_size: Pair
    stride: Pair
    dilation: Pair
    saved: Any  # argmax within the window (max pooling) or the divisor (average pooling)


def _windows_disjoint(kernel_size: Pair, stride: Pair, dilation: Pair) -> bool:
    """True when no input pixel lies in two windows (stride at least the dilated kernel, in both dimensions)."""
    return all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation, strict=True))


def max_pool2d(xp: np.ndarray, kernel_size: Pair, stride: Pair,
               dilation: Pair = (1, 1)) -> tuple[np.ndarray, PoolCache]:
    """Max pooling of the (-inf padded) input ``xp``: one vectorised pass per kernel position.

    Keeps the position of the maximum within each window -- the first one on ties, the last NaN if there is one
    (as torch) -- so the backward pass routes each gradient to exactly one input pixel, even for overlapping windows.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    ho, wo = output_hw(xp.shape[-2:], kernel_size, stride, dilation)
    has_nan = bool(np.isnan(xp.min())) if xp.size else False
    best = xp[:, :, tap(0, sh, ho), tap(0, sw, wo)].copy()
    index_type = np.int8 if kh * kw <= 127 else np.int32
    where = np.zeros(best.shape, dtype=index_type)
    better = np.empty(best.shape, dtype=bool)
    step = np.empty(best.shape, dtype=index_type)
    for k in range(1, kh * kw):
        p, q = divmod(k, kw)
        candidate = xp[:, :, tap(p * dh, sh, ho), tap(q * dw, sw, wo)]
        np.greater(candidate, best, out=better)
        if has_nan:  # as torch: the candidate wins if it is larger or NaN
            better |= np.isnan(candidate)
            np.copyto(best, candidate, where=better)
        else:
            np.maximum(best, candidate, out=best)
        # where = k if better else where, by arithmetic (much faster than masked assignment)
        np.subtract(index_type(k), where, out=step)
        step *= better
        where += step
    return best, PoolCache(xp.shape, kernel_size, stride, dilation, where)


def max_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Each output gradient goes to the input pixel that was the maximum of its window (summed on overlaps)."""
    (kh, kw), (sh, sw), (dh, dw) = cache.kernel_size, cache.stride, cache.dilation
    ho, wo = grad_out.shape[-2:]
    grad_x = np.zeros(cache.padded_shape, dtype=grad_out.dtype)
    disjoint = _windows_disjoint(cache.kernel_size, cache.stride, cache.dilation)
    chosen = np.empty(grad_out.shape, dtype=bool)
    share = np.empty_like(grad_out)
    for k in range(kh * kw):
        p, q = divmod(k, kw)
        target = grad_x[:, :, tap(p * dh, sh, ho), tap(q * dw, sw, wo)]
        np.equal(cache.saved, k, out=chosen)
        if disjoint:  # every input pixel is in at most one window: write instead of add
            np.multiply(grad_out, chosen, out=target)
        else:
            np.multiply(grad_out, chosen, out=share)
            target += share
    return grad_x


def avg_pool2d(xp: np.ndarray, kernel_size: Pair, stride: Pair,
               divisor: np.ndarray | float) -> tuple[np.ndarray, PoolCache]:
    """Average pooling of the zero-padded input ``xp``: the window sums (one slice-add per kernel position)
    divided by ``divisor`` (a number, or an ``(H_out, W_out)`` array for ``count_include_pad=False``)."""
    (kh, kw), (sh, sw) = kernel_size, stride
    ho, wo = output_hw(xp.shape[-2:], kernel_size, stride, (1, 1))
    total = np.zeros((*xp.shape[:2], ho, wo), dtype=xp.dtype)
    for p in range(kh):
        for q in range(kw):
            total += xp[:, :, tap(p, sh, ho), tap(q, sw, wo)]
    divisor = np.asarray(divisor, dtype=xp.dtype)
    total /= divisor
    return total, PoolCache(xp.shape, kernel_size, stride, (1, 1), divisor)


def avg_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Each output gradient, divided by its divisor, goes to every pixel of its window (summed on overlaps)."""
    (kh, kw), (sh, sw) = cache.kernel_size, cache.stride
    ho, wo = grad_out.shape[-2:]
    share = grad_out / cache.saved.astype(grad_out.dtype)
    grad_x = np.zeros(cache.padded_shape, dtype=grad_out.dtype)
    for p in range(kh):
        for q in range(kw):
            grad_x[:, :, tap(p, sh, ho), tap(q, sw, wo)] += share
    return grad_x


def _window_counts(size: int, padding: int, kernel: int, stride: int, out: int, include_pad: bool) -> np.ndarray:
    """Per output position along one axis, how many pixels its window averages (torch's rule): the window
    ``[i*s, i*s + k)`` of the padded axis, clipped to the padded input ``[0, size + 2p)`` -- a ``ceil_mode`` window
    may run past it -- and, unless ``include_pad``, to the real pixels ``[p, p + size)``."""
    start = np.arange(out) * stride
    low, high = (0, size + 2 * padding) if include_pad else (padding, padding + size)
    return np.minimum(start + kernel, high) - np.maximum(start, low)


def avg_pool_divisor(hw: Pair, padding: Pair, kernel_size: Pair, stride: Pair, out_hw: Pair,
                     count_include_pad: bool) -> np.ndarray:
    """``(H_out, W_out)`` divisors of average pooling: the pixels of each window that count -- padding included
    or not (``count_include_pad``), never the extra pixels a ``ceil_mode`` window reaches past the padding."""
    rows, cols = (_window_counts(size, p, k, s, o, count_include_pad)
                  for size, p, k, s, o in zip(hw, padding, kernel_size, stride, out_hw, strict=True))
    return np.outer(rows, cols).astype(np.float64)


def adaptive_bins(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: bin ``i`` of ``out_size`` bins over ``in_size`` pixels covers ``start..end-1``
    with ``start = floor(i*I/O)`` and ``end = ceil((i+1)*I/O)`` (torch's adaptive pooling)."""
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def adaptive_avg_pool2d(x: np.ndarray, out_hw: Pair) -> tuple[np.ndarray, PoolCache]:
    """Mean of every bin: ``(N, C, H, W)`` -> ``(N, C, *out_hw)``."""
    rows, cols = adaptive_bins(x.shape[-2], out_hw[0]), adaptive_bins(x.shape[-1], out_hw[1])
    y = np.empty((*x.shape[:-2], *out_hw), dtype=x.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            y[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return y, PoolCache(x.shape, (0, 0), (0, 0), (1, 1), (rows, cols))


def adaptive_avg_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Each output gradient, divided by its bin's size, goes to every pixel of the bin (summed where bins overlap)."""
    rows, cols = cache.saved
    grad_x = np.zeros(cache.padded_shape, dtype=grad_out.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            share = grad_out[..., i, j] / grad_out.dtype.type((r1 - r0) * (c1 - c0))
            grad_x[..., r0:r1, c0:c1] += share[..., None, None]
    return grad_x


def adaptive_max_pool2d(x: np.ndarray, out_hw: Pair) -> tuple[np.ndarray, np.ndarray, PoolCache]:
    """Maximum of every bin and its flat index ``row * W + col`` in the input (the first maximum; the last NaN if
    there is one, as torch): ``(y, indices, cache)``."""
    height, width = x.shape[-2:]
    rows, cols = adaptive_bins(height, out_hw[0]), adaptive_bins(width, out_hw[1])
    y = np.empty((*x.shape[:-2], *out_hw), dtype=x.dtype)
    indices = np.empty(y.shape, dtype=np.int64)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            window = x[..., r0:r1, c0:c1].reshape(*x.shape[:-2], -1)
            best = window.argmax(axis=-1)
            nan = np.isnan(window)
            if nan.any():
                last_nan = window.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
                best = np.where(nan.any(axis=-1), last_nan, best)
            y[..., i, j] = np.take_along_axis(window, best[..., None], axis=-1)[..., 0]
            indices[..., i, j] = (r0 + best // (c1 - c0)) * width + c0 + best % (c1 - c0)
    return y, indices, PoolCache(x.shape, (0, 0), (0, 0), (1, 1), indices)


def adaptive_max_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Each output gradient goes to its bin's maximum (summed where overlapping bins share one)."""
    n_planes = int(np.prod(cache.padded_shape[:-2]))
    height, width = cache.padded_shape[-2:]
    grad_x = np.zeros((n_planes, height * width), dtype=grad_out.dtype)
    flat_index = cache.saved.reshape(n_planes, -1)
    np.add.at(grad_x, (np.arange(n_planes)[:, None], flat_index), grad_out.reshape(n_planes, -1))
    return grad_x.reshape(cache.padded_shape)
