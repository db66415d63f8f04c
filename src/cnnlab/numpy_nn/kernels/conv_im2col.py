r"""The textbook im2col convolution: copy every window into a column, then one matrix product per group.

:func:`im2col` turns the padded batch ``xp`` ``(N, C, H, W)`` into columns ``cols`` ``(N, C*kh*kw, L)`` with
``L = H_out*W_out``: column ``l = i*W_out + j`` of image ``s`` is the window of output position ``(i, j)``, rows
ordered ``(c, p, q)``::

    cols[s, c*kh*kw + p*kw + q, i*W_out + j] = xp[s, c, i*sh + p*dh, j*sw + q*dw]

Then the convolution is a matrix product: with ``W_g`` ``(O/G, C/G*kh*kw)`` the filters of group ``g`` (rows of
``W.reshape(O, -1)``) and ``cols_g`` the rows of that group's channels,

    forward:   y_g[s] = W_g @ cols_g[s] + b_g                  (O/G, L) for every image s
    backward:  dW_g   = sum_s dy_g[s] @ cols_g[s]^T            (O/G, C/G*kh*kw)
               dcols_g[s] = W_g^T @ dy_g[s]                     (C/G*kh*kw, L)
               dxp    = col2im(dcols)                          (N, C, H, W)

where :func:`col2im`, the adjoint of :func:`im2col`, adds every column entry back onto the pixel it was copied
from (a pixel in several windows collects several contributions). The columns are ``kh*kw`` times larger than the
input and stay in the cache until the backward pass; :mod:`~cnnlab.numpy_nn.kernels.conv_fast` is the same idea
reorganised to be fast.
"""

from __future__ import annotations

import numpy as np

from cnnlab.geometry import Pair
from cnnlab.numpy_nn.kernels.conv_contract import ConvCache, ConvGrads, check_conv_geometry
from cnnlab.numpy_nn.kernels.windows import output_hw, tap, window_view

__all__ = ["col2im", "conv2d_im2col", "conv2d_im2col_backward", "im2col"]


def im2col(xp: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1), dilation: Pair = (1, 1),
           out: np.ndarray | None = None) -> np.ndarray:
    """Columns ``(N, C*kh*kw, H_out*W_out)`` of ``xp`` ``(N, C, H, W)``: one column per output position, rows
    ordered ``(c, p, q)``, so ``W.reshape(O, -1) @ cols[s]`` is the (one-group) convolution of image ``s``.
    ``out`` may be a reusable buffer of that shape."""
    view = window_view(xp, kernel_size, stride, dilation)  # (N, C, kh, kw, H_out, W_out)
    n, c, kh, kw, ho, wo = view.shape
    if out is None:
        out = np.empty((n, c * kh * kw, ho * wo), dtype=xp.dtype)
    np.copyto(out.reshape(view.shape), view)
    return out


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], kernel_size: Pair, stride: Pair = (1, 1),
           dilation: Pair = (1, 1)) -> np.ndarray:
    """Adjoint of :func:`im2col`: ``(N, C*kh*kw, H_out*W_out)`` -> ``(N, C, H, W)``, every column entry added onto
    the input pixel it was read from -- one strided slice-add per kernel position (``kh*kw`` vectorised adds)."""
    n, c, hp, wp = padded_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    ho, wo = output_hw((hp, wp), kernel_size, stride, dilation)
    cols6 = cols.reshape(n, c, kh, kw, ho, wo)
    out = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    for p in range(kh):
        rows = tap(p * dh, sh, ho)
        for q in range(kw):
            out[:, :, rows, tap(q * dw, sw, wo)] += cols6[:, :, p, q]
    return out


def conv2d_im2col(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                  dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """Textbook im2col forward: ``y_g[s] = W_g @ cols_g[s] (+ b)``, the whole batch's columns at once (kept for
    the backward pass)."""
    check_conv_geometry(xp, weight, groups)
    n_images = xp.shape[0]
    out_channels = weight.shape[0]
    ho, wo = output_hw(xp.shape[2:], weight.shape[2:], stride, dilation)
    cols = im2col(xp, weight.shape[2:], stride, dilation)
    cols_g = cols.reshape(n_images, groups, -1, ho * wo)  # (N, G, C/G*kh*kw, L): rows of group g's channels
    w_g = weight.reshape(groups, out_channels // groups, -1)  # (G, O/G, C/G*kh*kw)
    y = np.matmul(w_g, cols_g).reshape(n_images, out_channels, ho, wo)  # W_g @ cols_g[s] for every s and g
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y, ConvCache(xp.shape, weight, bias is not None, stride, dilation, groups, cols)


def conv2d_im2col_backward(grad_out: np.ndarray, cache: ConvCache, need_input_grad: bool = True) -> ConvGrads:
    """Textbook im2col backward: ``dW_g = sum_s dy_g[s] @ cols_g[s]^T``, ``db = sum of dy``, and (if
    ``need_input_grad``) ``dcols_g[s] = W_g^T @ dy_g[s]`` added back onto the pixels by :func:`col2im`."""
    cols, weight, groups = cache.saved, cache.weight, cache.groups
    n_images, out_channels, ho, wo = grad_out.shape
    cols_g = cols.reshape(n_images, groups, -1, ho * wo)
    dy_g = grad_out.reshape(n_images, groups, out_channels // groups, ho * wo)  # (N, G, O/G, L)
    grad_w = np.matmul(dy_g, cols_g.transpose(0, 1, 3, 2)).sum(axis=0).reshape(weight.shape)
    grad_b = grad_out.sum(axis=(0, 2, 3)) if cache.has_bias else None
    if not need_input_grad:
        return None, grad_w, grad_b
    w_g = weight.reshape(groups, out_channels // groups, -1)
    grad_cols = np.matmul(w_g.transpose(0, 2, 1), dy_g)  # (N, G, C/G*kh*kw, L)
    grad_xp = col2im(grad_cols.reshape(cols.shape), cache.padded_shape, weight.shape[2:],
                     cache.stride, cache.dilation)
    return grad_xp, grad_w, grad_b
