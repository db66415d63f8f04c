"""Max and average pooling of (already padded) image batches ``(N, C, H, W)``, forward and backward.

Each kernel is a pair ``forward(xp, ...) -> (y, cache)`` / ``backward(grad_out, cache) -> dL/dxp``: one vectorised
pass per kernel position ``(p, q)`` (reading ``xp[..., tap(p*dh, sh, H_out), tap(q*dw, sw, W_out)]``), so windows
may overlap, strides need not divide the input, and the padding is done by the layer (``-inf`` for max pooling,
zeros for average pooling).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from cnnlab.geometry import Pair
from cnnlab.numpy_nn.kernels.pad import pad2d
from cnnlab.numpy_nn.kernels.windows import output_hw, tap

__all__ = ["PoolCache", "avg_pool2d", "avg_pool2d_backward", "avg_pool_divisor", "max_pool2d", "max_pool2d_backward"]


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


def avg_pool_divisor(hw: Pair, padding: Pair, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """``(H_out, W_out)`` counts of real (non-padding) pixels per window (``count_include_pad=False``)."""
    ones = np.ones((1, 1, *tuple(hw)), dtype=np.float64)
    counts, _ = avg_pool2d(pad2d(ones, padding), kernel_size, stride, 1.0)
    return counts[0, 0]
