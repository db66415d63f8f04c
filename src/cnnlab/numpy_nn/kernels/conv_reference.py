r"""The reference convolutions, written straight from the equations: ``naive`` and ``loops2``.

Forward (see :mod:`~cnnlab.numpy_nn.kernels.conv_contract`; ``xp`` the padded input, ``g(d)`` the group of output
channel ``d`` and ``c0(d) = g(d) * C/G`` its first input channel)::

    y[s, d, i, j] = b[d] + sum_c sum_p sum_q  xp[s, c0(d) + c, i*sh + p*dh, j*sw + q*dw] * W[d, c, p, q]

Backward. ``y`` is a sum of products ``xp[...] * W[...]``, so each product sends ``dy = dL/dy[s, d, i, j]`` times
the *other* factor to each of its two factors; summing over every product a factor appears in gives::

    dL/db[d]          = sum_s sum_i sum_j  dy[s, d, i, j]

    dL/dW[d, c, p, q] = sum_s sum_i sum_j  dy[s, d, i, j] * xp[s, c0(d) + c, i*sh + p*dh, j*sw + q*dw]

    dL/dxp[s, c0(d) + c, u, v] = sum_{d' in g(d)} sum_p sum_q  dy[s, d', i, j] * W[d', c, p, q]
                                 over the outputs (i, j) with i*sh + p*dh = u and j*sw + q*dw = v

- **stride**: only outputs with ``(u - p*dh) / sh`` and ``(v - q*dw) / sw`` whole numbers in range read pixel
  ``(u, v)`` through tap ``(p, q)``; pixels no window reaches (a stride that does not divide the input leaves a
  last row/column unread) get zero gradient;
- **dilation**: tap ``(p, q)`` sits ``(p*dh, q*dw)`` from the window's corner, in all three formulas;
- **groups**: ``W[d, c, p, q]`` only meets input channel ``c0(d) + c``, so ``dL/dxp`` of a channel sums over the
  output channels ``d'`` of its own group only.

For stride 1, dilation 1 and one group, ``dL/dxp`` is the "full" convolution of ``dy`` with the kernel rotated by
180 degrees. ``dL/dx`` of the unpadded input then follows from :func:`~cnnlab.numpy_nn.kernels.pad.pad2d_backward`.

Both backward functions follow the engine's contract ``(grad_out, cache, need_input_grad)``; they compute
``dL/dxp`` in any case (the loops stay those of the equations) and drop it when ``need_input_grad`` is false.
"""

from __future__ import annotations

import numpy as np

from cnnlab.geometry import Pair
from cnnlab.numpy_nn.kernels.conv_contract import ConvCache, ConvGrads, check_conv_geometry
from cnnlab.numpy_nn.kernels.windows import output_hw, tap

__all__ = ["conv2d_loops2", "conv2d_loops2_backward", "conv2d_naive", "conv2d_naive_backward"]


def conv2d_naive(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                 dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """The forward equation with seven nested loops -- batch ``s``, output channel ``d``, output row ``i`` and
    column ``j``, input channel ``c``, kernel row ``p`` and column ``q`` -- one scalar product at a time (summed in
    float64). The reference every other algorithm is tested against; very slow."""
    check_conv_geometry(xp, weight, groups)
    n_images, _, hp, wp = xp.shape
    out_channels, group_channels, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = output_hw((hp, wp), (kh, kw), stride, dilation)
    per_group = out_channels // groups
    y = np.empty((n_images, out_channels, ho, wo), dtype=xp.dtype)
    for s in range(n_images):
        for d in range(out_channels):
            first = (d // per_group) * group_channels  # c0(d): first input channel of d's group
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if bias is None else float(bias[d])
                    for c in range(group_channels):
                        for p in range(kh):
                            for q in range(kw):
                                total += float(xp[s, first + c, i * sh + p * dh, j * sw + q * dw]) * float(
                                    weight[d, c, p, q])
                    y[s, d, i, j] = total
    return y, ConvCache(xp.shape, weight, bias is not None, stride, dilation, groups, xp)


def conv2d_naive_backward(grad_out: np.ndarray, cache: ConvCache, need_input_grad: bool = True) -> ConvGrads:
    """The backward equations with the forward's seven loops: each product ``xp[...] * W[...]`` of the forward
    sum adds ``dy * W[...]`` to its input pixel's gradient and ``dy * xp[...]`` to its weight's (float64 sums)."""
    xp, weight = cache.saved, cache.weight
    n_images, out_channels, ho, wo = grad_out.shape
    _, group_channels, kh, kw = weight.shape
    (sh, sw), (dh, dw) = cache.stride, cache.dilation
    per_group = out_channels // cache.groups
    grad_x = np.zeros(cache.padded_shape, dtype=np.float64)
    grad_w = np.zeros(weight.shape, dtype=np.float64)
    grad_b = np.zeros(out_channels, dtype=np.float64)
    for s in range(n_images):
        for d in range(out_channels):
            first = (d // per_group) * group_channels
            for i in range(ho):
                for j in range(wo):
                    g = float(grad_out[s, d, i, j])
                    grad_b[d] += g
                    for c in range(group_channels):
                        for p in range(kh):
                            for q in range(kw):
                                row, col = i * sh + p * dh, j * sw + q * dw
                                grad_w[d, c, p, q] += g * float(xp[s, first + c, row, col])
                                grad_x[s, first + c, row, col] += g * float(weight[d, c, p, q])
    dtype = grad_out.dtype
    return (grad_x.astype(dtype) if need_input_grad else None, grad_w.astype(dtype),
            grad_b.astype(dtype) if cache.has_bias else None)


def _grouped(xp: np.ndarray, weight: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Views with the groups as an axis: ``(N, G, C/G, H, W)`` and ``(G, O/G, C/G, kh, kw)``."""
    n, _, hp, wp = xp.shape
    o, cg, kh, kw = weight.shape
    return xp.reshape(n, groups, cg, hp, wp), weight.reshape(groups, o // groups, cg, kh, kw)


def conv2d_loops2(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                  dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """Two Python loops over the output positions ``(i, j)``; each step broadcasts over batch, channels and
    filters: the window at ``(i*sh, j*sw)`` of every image ``(N, G, C/G, kh, kw)`` times every filter, summed over
    ``(c, p, q)`` -- the output column ``y[:, :, i, j]`` ``(N, O)`` in one ``einsum``."""
    check_conv_geometry(xp, weight, groups)
    n_images, _, hp, wp = xp.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = output_hw((hp, wp), (kh, kw), stride, dilation)
    xg, wg = _grouped(xp, weight, groups)
    y = np.empty((n_images, out_channels, ho, wo), dtype=xp.dtype)
    for i in range(ho):
        rows = tap(i * sh, dh, kh)
        for j in range(wo):
            window = xg[:, :, :, rows, tap(j * sw, dw, kw)]  # (N, G, C/G, kh, kw)
            y[:, :, i, j] = np.einsum("sgcnm,gdcnm->sgd", window, wg).reshape(n_images, out_channels)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y, ConvCache(xp.shape, weight, bias is not None, stride, dilation, groups, xp)


def conv2d_loops2_backward(grad_out: np.ndarray, cache: ConvCache, need_input_grad: bool = True) -> ConvGrads:
    """The backward equations with the same two loops over ``(i, j)``: output position ``(i, j)`` adds its term
    ``dy[:, :, i, j] * window`` to ``dL/dW`` and scatters ``dy[:, :, i, j] * W`` onto its window of ``dL/dxp``."""
    xp, weight, groups = cache.saved, cache.weight, cache.groups
    n_images, out_channels, ho, wo = grad_out.shape
    _, _, kh, kw = weight.shape
    (sh, sw), (dh, dw) = cache.stride, cache.dilation
    xg, wg = _grouped(xp, weight, groups)
    grad_xg = np.zeros(xg.shape, dtype=grad_out.dtype)
    grad_wg = np.zeros(wg.shape, dtype=grad_out.dtype)
    grad_g = grad_out.reshape(n_images, groups, out_channels // groups, ho, wo)
    for i in range(ho):
        rows = tap(i * sh, dh, kh)
        for j in range(wo):
            cols = tap(j * sw, dw, kw)
            g = grad_g[:, :, :, i, j]  # (N, G, O/G)
            grad_wg += np.einsum("sgd,sgcnm->gdcnm", g, xg[:, :, :, rows, cols])
            grad_xg[:, :, :, rows, cols] += np.einsum("sgd,gdcnm->sgcnm", g, wg)
    grad_b = grad_out.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return (grad_xg.reshape(cache.padded_shape) if need_input_grad else None), grad_wg.reshape(weight.shape), grad_b
