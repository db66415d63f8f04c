r"""The engine's default convolution, ``"fast"``: im2col reorganised for the CPU cache and long contiguous loops.

The same equation and the same matrix products as the textbook algorithm
(:mod:`~cnnlab.numpy_nn.kernels.conv_im2col`), with three changes that only reorder the work (so the numbers
agree with it up to float rounding):

1. **Chunks of images.** Columns are built for ``B`` images at a time, ``B`` chosen so that one chunk of columns
   takes about :data:`CHUNK_BYTES` (2 MiB): small enough to still be in the CPU cache when the matrix product
   reads it right after it was written, large enough for an efficient product. A chunk's columns are one matrix
   ``(C*kh*kw, B*L)`` (laid out ``(C, kh, kw, B, L)``), so one product per group covers the whole chunk:
   ``y_g = W_g @ cols_g`` ``(O/G, B*L)``. The backward pass rebuilds each chunk's columns from the saved padded
   input instead of keeping all of them (``kh*kw`` times the input) in memory.
2. **"Wide" columns for stride 1.** Each output row is computed at all ``wp`` columns of the padded input, not
   only at the ``W_out`` valid ones: ``L = H_out*wp``; the last ``wp - W_out`` outputs of every row are junk,
   cropped in the forward pass and given zero gradient in the backward pass. In exchange, with each image
   flattened (``xp_flat[u*wp + v] = xp[u, v]``), kernel position ``(p, q)`` reads for column ``l = i*wp + j`` the
   pixel ``xp_flat[l + p*dh*wp + q*dw]``: one *contiguous* run of the flattened input per ``(c, p, q)``, copied
   in long inner loops instead of ``H_out`` rows of ``W_out`` pixels. Strided convolutions (and 1-pixel-wide
   kernels, whose columns are contiguous anyway) use ordinary ``(C, kh, kw, B, H_out*W_out)`` columns.
3. **Flat, contiguous input gradient (stride 1).** By the same shift, the column gradients of kernel position
   ``(p, q)`` belong to the flattened padded input shifted by ``p*dh*wp + q*dw``. So ``dL/dxp`` is accumulated in
   one flat buffer laid out ``(C, B, hp*wp)``: column gradients are computed on the full padded grid (zero where
   there is no output), one kernel row at a time (so they are still in the cache when added), and each
   ``(group, p, q)`` contribution is *one* long contiguous 1-D add (:func:`_chunk_input_grad_flat`). Strided
   convolutions add back with one strided slice-add per kernel position (:func:`_chunk_col2im`, i.e. col2im).

``dW`` is computed as ``(cols_g @ dy_g^T)^T`` rather than ``dy_g @ cols_g^T``: with the long summed axis
contiguous in both operands this is about twice as fast in OpenBLAS for these skinny shapes. With
``need_input_grad=False`` the backward pass skips all of ``dL/dxp`` (the most expensive part of a first layer).

**Chunks in parallel.** The chunks are independent -- each writes its own slice of ``y`` (forward) and of
``dL/dxp`` (backward) and returns its own share of ``dW`` -- so :func:`cnnlab.threads.parallel_map` runs them on
the engine's worker threads (``cnnlab --threads N``, or :func:`cnnlab.threads.engine_workers`); NumPy releases the
GIL inside the products and copies. The chunking depends on the shapes only and the shares of ``dW`` are summed
in chunk order, so the numbers are the same on any number of workers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.geometry import Pair
from cnnlab.numpy_nn.kernels.conv_contract import ConvCache, ConvGrads, check_conv_geometry
from cnnlab.numpy_nn.kernels.windows import output_hw, tap
from cnnlab.threads import parallel_map

__all__ = ["CHUNK_BYTES", "conv2d_fast", "conv2d_fast_backward"]

#: Images per chunk are chosen so that one chunk of columns takes about this many bytes: small enough to stay in
#: the CPU caches between being written and being multiplied, large enough for efficient matrix products.
CHUNK_BYTES = 2 << 20


class _ColumnGeometry(NamedTuple):
    """How the columns of one chunk are laid out: ``(C, kh, kw, B, rows * width)``.

    For stride 1 the columns are "wide": each output row is computed for all ``wp`` input columns (the last
    ``wp - w_out`` of them are junk and cropped), so every kernel position reads one *contiguous* run of the
    flattened input -- long inner loops instead of rows of ``w_out`` pixels (and the input gradient is added back
    in whole contiguous blocks, see :func:`_chunk_input_grad_flat`).
    """

    kh: int
    kw: int
    stride: Pair
    dilation: Pair
    ho: int
    wo: int
    width: int  # columns per output row in the column matrix (wp for stride 1, else wo)
    wide: bool

    @property
    def length(self) -> int:
        return self.ho * self.width


def _column_geometry(padded_hw: Pair, kernel_size: Pair, stride: Pair, dilation: Pair) -> _ColumnGeometry:
    ho, wo = output_hw(padded_hw, kernel_size, stride, dilation)
    wide = stride == (1, 1) and wo < padded_hw[1]
    return _ColumnGeometry(*kernel_size, stride, dilation, ho, wo, padded_hw[1] if wide else wo, wide)


def _chunk_columns(xp: np.ndarray, geo: _ColumnGeometry) -> np.ndarray:
    """Columns ``(C*kh*kw, B*L)`` of the images ``xp`` ``(B, C, hp, wp)``: one copy from a strided view."""
    b, c, hp, wp = xp.shape
    kh, kw, (sh, sw), (dh, dw) = geo.kh, geo.kw, geo.stride, geo.dilation
    cols = np.empty((c, kh, kw, b, geo.length), dtype=xp.dtype)
    if geo.wide:
        # Flattened input: kernel position (p, q) reads xp_flat[p*dh*wp + q*dw + i*wp + j] for column i*wp + j.
        # The last (kw-1)*dw columns would run past the end; they are junk anyway, so they are zeroed.
        flat = np.ascontiguousarray(xp).reshape(b, c, hp * wp)
        s_b, s_c, s_l = flat.strides
        used = geo.length - dw * (kw - 1)
        view = as_strided(flat, shape=(c, kh, kw, b, used), strides=(s_c, s_l * dh * wp, s_l * dw, s_b, s_l),
                          writeable=False)
        cols[..., :used] = view
        cols[..., used:] = 0
    else:
        s_b, s_c, s_h, s_w = xp.strides
        view = as_strided(xp, shape=(c, kh, kw, b, geo.ho, geo.wo),
                          strides=(s_c, s_h * dh, s_w * dw, s_b, s_h * sh, s_w * sw), writeable=False)
        cols.reshape(c, kh, kw, b, geo.ho, geo.wo)[...] = view
    return cols.reshape(c * kh * kw, b * geo.length)


def _chunk_col2im(grad_cols: np.ndarray, out: np.ndarray, geo: _ColumnGeometry) -> None:
    """Add the column gradients ``(C*kh*kw, B*L)`` back onto ``out`` ``(B, C, hp, wp)`` (zeroed by the caller):
    one strided slice-add per kernel position (the non-"wide" layouts; stride 1 uses
    :func:`_chunk_input_grad_flat`)."""
    b, c, _, _ = out.shape
    kh, kw, (sh, sw), (dh, dw) = geo.kh, geo.kw, geo.stride, geo.dilation
    g7 = grad_cols.reshape(c, kh, kw, b, geo.ho, geo.wo)
    out_cb = out.transpose(1, 0, 2, 3)
    for p in range(kh):
        rows = tap(p * dh, sh, geo.ho)
        for q in range(kw):
            out_cb[:, :, rows, tap(q * dw, sw, geo.wo)] += g7[:, p, q]


def _chunk_input_grad_flat(grad_out: np.ndarray, weight: np.ndarray, groups: int, geo: _ColumnGeometry,
                           out: np.ndarray) -> None:
    """dL/dx of a chunk for stride 1, with every col2im add one long contiguous 1-D add.

    The column gradients are computed on the full padded grid ``(hp, wp)`` of every image (zero gradient at the
    positions that are not outputs) with rows ordered ``(p, q, c)``, into a buffer laid out ``(C, B, hp*wp)``:
    then the contribution of kernel position ``(p, q)`` to *all* channels and images is the same array shifted by
    ``p*dh*wp + q*dw``. The zero entries land on other pixels harmlessly; a tail absorbs the overhang.
    """
    b, channels, hp, wp = out.shape
    out_channels = weight.shape[0]
    per_group, group_channels = out_channels // groups, channels // groups
    kh, kw, (dh, dw) = geo.kh, geo.kw, geo.dilation
    grid = hp * wp
    grad_full = np.zeros((out_channels, b, hp, wp), dtype=grad_out.dtype)
    grad_full[:, :, :geo.ho, :geo.wo] = grad_out.transpose(1, 0, 2, 3)
    grad_full = grad_full.reshape(groups, per_group, b * grid)
    # W^T per kernel row p, with rows ordered (q, c): (kh, groups, kw*C/groups, O/groups)
    w_t = weight.reshape(groups, per_group, group_channels, kh, kw).transpose(3, 0, 4, 2, 1)
    w_t = np.ascontiguousarray(w_t).reshape(kh, groups, kw * group_channels, per_group)
    block = group_channels * b * grid
    tail = (kh - 1) * dh * wp + (kw - 1) * dw
    flat = np.zeros(channels * b * grid + tail, dtype=grad_out.dtype)
    for p in range(kh):  # one kernel row at a time: its column gradients stay in the CPU cache until added
        grad_cols = np.matmul(w_t[p], grad_full).reshape(groups, kw, block)
        for g in range(groups):
            for q in range(kw):
                start = g * block + p * dh * wp + q * dw
                flat[start:start + block] += grad_cols[g, q]
    out[...] = flat[:channels * b * grid].reshape(channels, b, hp, wp).transpose(1, 0, 2, 3)


def _chunks(n_images: int, per_image_bytes: int) -> list[slice]:
    """Consecutive slices of the batch with about :data:`CHUNK_BYTES` of columns each (at least one image)."""
    size = max(1, min(n_images, CHUNK_BYTES // max(per_image_bytes, 1)))
    return [slice(start, min(start + size, n_images)) for start in range(0, n_images, size)]


def conv2d_fast(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """Forward, chunk by chunk: the columns ``(C*kh*kw, B*L)`` of ``B`` images (wide for stride 1), then
    ``y_g = W_g @ cols_g`` ``(O/G, B*L)`` per group, cropped to ``W_out`` and written (plus bias) into ``y``
    ``(N, O, H_out, W_out)``. Only the padded input is kept for the backward pass."""
    check_conv_geometry(xp, weight, groups)
    n_images, channels, hp, wp = xp.shape
    out_channels = weight.shape[0]
    geo = _column_geometry((hp, wp), weight.shape[2:], stride, dilation)
    w_g = weight.reshape(groups, out_channels // groups, -1)
    y = np.empty((n_images, out_channels, geo.ho, geo.wo), dtype=xp.dtype)

    def forward_chunk(chunk: slice) -> None:  # writes y[chunk] only, so chunks may run on different threads
        b = chunk.stop - chunk.start
        cols = _chunk_columns(xp[chunk], geo).reshape(groups, -1, b * geo.length)
        out = np.matmul(w_g, cols).reshape(out_channels, b, geo.ho, geo.width)[..., :geo.wo]
        target = y[chunk].transpose(1, 0, 2, 3)
        if bias is None:
            target[...] = out
        else:
            np.add(out, bias.reshape(-1, 1, 1, 1), out=target)

    parallel_map(forward_chunk, _chunks(n_images, channels * geo.kh * geo.kw * geo.length * xp.itemsize))
    return y, ConvCache(xp.shape, weight, bias is not None, stride, dilation, groups, xp)


def conv2d_fast_backward(grad_out: np.ndarray, cache: ConvCache, need_input_grad: bool = True) -> ConvGrads:
    """Backward, chunk by chunk with the columns rebuilt: ``dW_g += (cols_g @ dy_g^T)^T``; if ``need_input_grad``,
    ``dL/dxp`` by the flat contiguous adds (stride 1) or ``dcols_g = W_g^T @ dy_g`` and col2im (strided)."""
    xp, weight, groups = cache.saved, cache.weight, cache.groups
    n_images, out_channels, ho, wo = grad_out.shape
    channels = xp.shape[1]
    geo = _column_geometry(xp.shape[2:], weight.shape[2:], cache.stride, cache.dilation)
    w_g = weight.reshape(groups, out_channels // groups, -1)
    grad_x = np.zeros(xp.shape, dtype=grad_out.dtype) if need_input_grad else None

    def backward_chunk(chunk: slice) -> np.ndarray:  # writes grad_x[chunk] only; returns the chunk's share of dW
        b = chunk.stop - chunk.start
        cols = _chunk_columns(xp[chunk], geo).reshape(groups, -1, b * geo.length)
        grad_chunk = np.zeros((out_channels, b, ho, geo.width), dtype=grad_out.dtype)
        grad_chunk[..., :wo] = grad_out[chunk].transpose(1, 0, 2, 3)  # junk columns get zero gradient
        grad_chunk = grad_chunk.reshape(groups, out_channels // groups, b * geo.length)
        # dW^T = cols @ dy^T: with the long summed axis contiguous in both operands this is about twice as fast
        # in OpenBLAS as dy @ cols^T for these skinny shapes
        share = np.matmul(cols, grad_chunk.transpose(0, 2, 1)).transpose(0, 2, 1)
        if grad_x is not None:
            if geo.wide:
                _chunk_input_grad_flat(grad_out[chunk], weight, groups, geo, grad_x[chunk])
            else:
                grad_cols = np.matmul(w_g.transpose(0, 2, 1), grad_chunk)
                _chunk_col2im(grad_cols.reshape(-1, b * geo.length), grad_x[chunk], geo)
        return share

    shares = parallel_map(backward_chunk, _chunks(n_images, channels * geo.kh * geo.kw * geo.length * xp.itemsize))
    grad_w = np.zeros(w_g.shape, dtype=grad_out.dtype)
    for share in shares:  # summed in chunk order, so the result is the same on any number of workers
        grad_w += share
    grad_b = grad_out.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return grad_x, grad_w.reshape(weight.shape), grad_b


