"""Sliding-window geometry shared by the convolution and pooling kernels (all on already padded inputs).

A window operation with kernel ``(kh, kw)``, stride ``(sh, sw)`` and dilation ``(dh, dw)`` reads, for output
position ``(i, j)`` and kernel position ``(p, q)``, the input pixel ``(i*sh + p*dh, j*sw + q*dw)``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.geometry import Pair

__all__ = ["output_hw", "tap", "window_view"]


def output_hw(padded_hw: tuple[int, ...], kernel_size: Pair, stride: Pair, dilation: Pair) -> Pair:
    """``(H_out, W_out)`` of an unpadded window operation on an already padded ``(H, W)``:
    ``floor((H - D*(K-1) - 1) / S) + 1`` per dimension."""
    ho, wo = ((size - d * (k - 1) - 1) // s + 1
              for size, k, s, d in zip(padded_hw, kernel_size, stride, dilation, strict=True))
    return ho, wo


def tap(offset: int, step: int, count: int) -> slice:
    """The positions ``offset, offset + step, ..., offset + step*(count-1)`` as a slice.

    ``xp[..., tap(p*dh, sh, H_out), tap(q*dw, sw, W_out)]`` is what kernel position ``(p, q)`` reads for every
    output position at once, ``(..., H_out, W_out)``.
    """
    return slice(offset, offset + step * (count - 1) + 1, step)


def window_view(xp: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1), dilation: Pair = (1, 1)) -> np.ndarray:
    """Read-only view ``(N, C, kh, kw, H_out, W_out)`` of the sliding windows of ``xp`` ``(N, C, H, W)`` (no copy).

    ``view[s, c, p, q, i, j] == xp[s, c, i*sh + p*dh, j*sw + q*dw]``.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    n, c, hp, wp = xp.shape
    ho, wo = output_hw((hp, wp), kernel_size, stride, dilation)
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(n, c, kh, kw, ho, wo), strides=(s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw),
                      writeable=False)
