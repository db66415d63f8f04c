"""Pure NumPy kernels of the engine: padding, im2col/col2im, convolution (three algorithms) and pooling.

Every kernel is a pair ``forward(...) -> (out, cache)`` / ``backward(grad_out, cache) -> grads``; the layers in
:mod:`cnnlab.numpy_nn.layers` only validate, pad and keep the cache. Layout is NCHW; the convolution is a
cross-correlation (kernel not flipped), as in PyTorch:

    y[s, d, i, j] = b[d] + sum_c sum_n sum_m  xp[s, c, i*sh + n*dh, j*sw + m*dw] * W[d, c, n, m]

where ``xp`` is the padded input, ``(sh, sw)`` the stride, ``(dh, dw)`` the dilation and ``c`` runs over the
input channels of ``d``'s group. Padding is done first (:func:`pad2d`) and the convolution itself is unpadded
("pad, then unpadded conv", which is also how torch treats the non-zero padding modes).

Convolution algorithms (all three give the same numbers; ``im2col`` is the fast default):

- ``naive``: the loops of the equation above (batch, output channel, output row and column, input channel,
  kernel row and column) -- the reference, very slow;
- ``loops2``: two nested Python loops over the output positions, broadcasting over batch and channels;
- ``im2col``: the sliding windows copied into a matrix, then one matrix product per group, a few images at a
  time; backward by matrix products and col2im (adding kernel-position slices back).

:func:`im2col` / :func:`col2im` are the textbook versions (whole batch, one column per output position); the
``im2col`` algorithm uses a chunked, cache-friendly variant of the same idea (see :func:`conv2d_im2col`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pair = tuple[int, int]
Sides = tuple[tuple[int, int], tuple[int, int]]

CONV_ALGORITHMS = ("naive", "loops2", "im2col")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


# ----------------------------------------------------------------------------------------------------------------
# geometry
def output_hw(padded_hw: Pair, kernel_size: Pair, stride: Pair, dilation: Pair) -> Pair:
    """``(H_out, W_out)`` of an unpadded window operation on an already padded ``(H, W)``."""
    return tuple((size - d * (k - 1) - 1) // s + 1  # type: ignore[return-value]
                 for size, k, s, d in zip(padded_hw, kernel_size, stride, dilation, strict=True))


def _tap(offset: int, step: int, count: int) -> slice:
    """The positions ``offset, offset + step, ...`` (``count`` of them) as a slice."""
    return slice(offset, offset + step * (count - 1) + 1, step)


# ----------------------------------------------------------------------------------------------------------------
# padding
def _source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of the padded axis, the input position it copies (non-zero padding modes)."""
    index = np.arange(-before, size + after)
    if mode == "reflect":
        index = np.abs(index)
        index = np.where(index >= size, 2 * (size - 1) - index, index)
    elif mode == "replicate":
        index = np.clip(index, 0, size - 1)
    elif mode == "circular":
        index = index % size
    else:  # pragma: no cover - guarded by callers
        raise ValueError(f"unknown padding mode {mode!r}")
    return index


def check_padding_fits(layer: str, hw: Pair, sides: Sides, mode: str) -> None:
    """torch's limits: reflect needs padding < size, circular padding <= size (per side, per dimension)."""
    if mode in ("zeros", "replicate"):
        return
    for dim, (size, (before, after)) in enumerate(zip(hw, sides, strict=True)):
        worst = max(before, after)
        if (mode == "reflect" and worst >= size) or (mode == "circular" and worst > size):
            rule = "smaller than" if mode == "reflect" else "at most"
            axis = "height" if dim == 0 else "width"
            raise ValueError(f"{layer}: padding_mode={mode!r} needs padding {rule} the input {axis}; got padding "
                             f"{worst} for an input {axis} of {size}")


def pad2d(x: np.ndarray, sides: Sides | int | Pair, mode: str = "zeros", value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` (e.g. ``(N, C, H, W)``).

    ``sides`` is ``((top, bottom), (left, right))``, a pair ``(ph, pw)`` or an int (same on every side).
    ``mode``: ``'zeros'`` (or ``'constant'`` with ``value``), ``'reflect'`` (mirror without repeating the edge),
    ``'replicate'`` (repeat the edge), ``'circular'`` (wrap around) -- torch's padding modes.
    """
    sides = normalise_sides(sides)
    (top, bottom), (left, right) = sides
    if top == bottom == left == right == 0:
        return x
    height, width = x.shape[-2:]
    if mode in ("zeros", "constant"):
        out = np.full((*x.shape[:-2], height + top + bottom, width + left + right), value, dtype=x.dtype)
        out[..., top:top + height, left:left + width] = x
        return out
    if mode not in PADDING_MODES:
        raise ValueError(f"padding mode must be one of {PADDING_MODES}, got {mode!r}")
    rows = _source_index(height, top, bottom, mode)
    cols = _source_index(width, left, right, mode)
    return x[..., rows[:, None], cols[None, :]]


def normalise_sides(sides: Sides | int | Pair) -> Sides:
    if isinstance(sides, int | np.integer):
        return ((int(sides),) * 2, (int(sides),) * 2)
    first, second = sides  # type: ignore[misc]
    if isinstance(first, int | np.integer):
        return ((int(first),) * 2, (int(second),) * 2)  # type: ignore[arg-type]
    return (tuple(first), tuple(second))  # type: ignore[return-value, arg-type]


def pad2d_backward(grad_padded: np.ndarray, sides: Sides | int | Pair, mode: str = "zeros") -> np.ndarray:
    """Gradient of :func:`pad2d` w.r.t. its input: crop, and (non-zero modes) add each copied pixel's gradient
    back onto the pixel it was copied from."""
    sides = normalise_sides(sides)
    (top, bottom), (left, right) = sides
    if top == bottom == left == right == 0:
        return grad_padded
    hp, wp = grad_padded.shape[-2:]
    height, width = hp - top - bottom, wp - left - right
    if mode in ("zeros", "constant"):
        return grad_padded[..., top:top + height, left:left + width]
    rows = _source_index(height, top, bottom, mode)
    cols = _source_index(width, left, right, mode)
    # Fold the rows: the interior is the identity, each padding row adds onto its source row.
    folded = grad_padded[..., top:top + height, :].copy()
    for position in [*range(top), *range(top + height, hp)]:
        folded[..., rows[position], :] += grad_padded[..., position, :]
    out = folded[..., left:left + width].copy()
    for position in [*range(left), *range(left + width, wp)]:
        out[..., cols[position]] += folded[..., position]
    return out


# ----------------------------------------------------------------------------------------------------------------
# im2col / col2im
def window_view(xp: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1), dilation: Pair = (1, 1)) -> np.ndarray:
    """Read-only view ``(N, C, kh, kw, H_out, W_out)`` of the sliding windows of ``xp`` (no copy).

    ``view[s, c, n, m, i, j] == xp[s, c, i*sh + n*dh, j*sw + m*dw]``.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    n, c, hp, wp = xp.shape
    ho, wo = output_hw((hp, wp), kernel_size, stride, dilation)
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(n, c, kh, kw, ho, wo), strides=(s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw),
                      writeable=False)


def im2col(xp: np.ndarray, kernel_size: Pair, stride: Pair = (1, 1), dilation: Pair = (1, 1),
           out: np.ndarray | None = None) -> np.ndarray:
    """Columns ``(N, C*kh*kw, H_out*W_out)``: one column per output position, rows ordered ``(c, n, m)``.

    Row ``c*kh*kw + n*kw + m`` of image ``s`` holds ``xp[s, c, i*sh + n*dh, j*sw + m*dw]`` for all ``(i, j)``, so
    ``W.reshape(O, -1) @ cols[s]`` is the convolution of image ``s``. ``out`` may be a reusable buffer.
    """
    view = window_view(xp, kernel_size, stride, dilation)
    n, c, kh, kw, ho, wo = view.shape
    if out is None:
        out = np.empty((n, c * kh * kw, ho * wo), dtype=xp.dtype)
    np.copyto(out.reshape(view.shape), view)
    return out


def col2im(cols: np.ndarray, padded_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair = (1, 1),
           dilation: Pair = (1, 1)) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column entry back onto the input pixel it was read from.

    Implemented as one strided slice-add per kernel position (``kh * kw`` vectorised adds).
    """
    n, c, hp, wp = padded_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    ho, wo = output_hw((hp, wp), kernel_size, stride, dilation)
    cols6 = cols.reshape(n, c, kh, kw, ho, wo)
    out = np.zeros(padded_shape, dtype=cols.dtype)
    for p in range(kh):
        rows = _tap(p * dh, sh, ho)
        for q in range(kw):
            out[:, :, rows, _tap(q * dw, sw, wo)] += cols6[:, :, p, q]
    return out


# ----------------------------------------------------------------------------------------------------------------
# convolution
class ConvCache(NamedTuple):
    """What a convolution's backward pass needs from its forward pass."""

    algorithm: str
    padded_shape: tuple[int, int, int, int]
    weight: np.ndarray
    has_bias: bool
    stride: Pair
    dilation: Pair
    groups: int
    saved: Any  # the padded input (im2col rebuilds its columns from it, chunk by chunk)


def _check_conv_geometry(xp: np.ndarray, weight: np.ndarray, groups: int) -> None:
    if xp.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D input and weight, got {xp.shape} and {weight.shape}")
    if xp.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"conv2d: input has {xp.shape[1]} channels but weight {weight.shape} with groups={groups} "
                         f"expects {weight.shape[1] * groups}")
    if weight.shape[0] % groups:
        raise ValueError(f"conv2d: {weight.shape[0]} output channels are not divisible by groups={groups}")


def conv2d_naive(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                 dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """Reference convolution of the padded input ``xp``: the equation, one scalar product at a time."""
    _check_conv_geometry(xp, weight, groups)
    n_images, _, hp, wp = xp.shape
    out_channels, group_channels, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = output_hw((hp, wp), (kh, kw), stride, dilation)
    per_group = out_channels // groups
    y = np.empty((n_images, out_channels, ho, wo), dtype=xp.dtype)
    for s in range(n_images):
        for d in range(out_channels):
            first = (d // per_group) * group_channels  # first input channel of d's group
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if bias is None else float(bias[d])
                    for c in range(group_channels):
                        for n in range(kh):
                            for m in range(kw):
                                total += float(xp[s, first + c, i * sh + n * dh, j * sw + m * dw]) * float(
                                    weight[d, c, n, m])
                    y[s, d, i, j] = total
    return y, ConvCache("naive", xp.shape, weight, bias is not None, stride, dilation, groups, xp)


def conv2d_naive_backward(grad_out: np.ndarray, cache: ConvCache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reference backward: every product of the forward sum sends its share of ``grad_out`` to both factors."""
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
                        for n in range(kh):
                            for m in range(kw):
                                row, col = i * sh + n * dh, j * sw + m * dw
                                grad_w[d, c, n, m] += g * float(xp[s, first + c, row, col])
                                grad_x[s, first + c, row, col] += g * float(weight[d, c, n, m])
    dtype = grad_out.dtype
    return grad_x.astype(dtype), grad_w.astype(dtype), (grad_b.astype(dtype) if cache.has_bias else None)


def _grouped(xp: np.ndarray, weight: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    n, _c, hp, wp = xp.shape
    o, cg, kh, kw = weight.shape
    return xp.reshape(n, groups, cg, hp, wp), weight.reshape(groups, o // groups, cg, kh, kw)


def conv2d_loops2(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                  dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """Two Python loops over the output positions ``(i, j)``; each step is one window of every image times every
    filter at once (broadcast over batch, channels and filters)."""
    _check_conv_geometry(xp, weight, groups)
    n_images, _, hp, wp = xp.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = output_hw((hp, wp), (kh, kw), stride, dilation)
    xg, wg = _grouped(xp, weight, groups)
    y = np.empty((n_images, out_channels, ho, wo), dtype=xp.dtype)
    for i in range(ho):
        rows = _tap(i * sh, dh, kh)
        for j in range(wo):
            window = xg[:, :, :, rows, _tap(j * sw, dw, kw)]  # (N, groups, C/groups, kh, kw)
            y[:, :, i, j] = np.einsum("sgcnm,gdcnm->sgd", window, wg).reshape(n_images, out_channels)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y, ConvCache("loops2", xp.shape, weight, bias is not None, stride, dilation, groups, xp)


def conv2d_loops2_backward(grad_out: np.ndarray,
                           cache: ConvCache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Backward of :func:`conv2d_loops2`, with the same two loops over the output positions."""
    xp, weight, groups = cache.saved, cache.weight, cache.groups
    n_images, out_channels, ho, wo = grad_out.shape
    _, _, kh, kw = weight.shape
    (sh, sw), (dh, dw) = cache.stride, cache.dilation
    xg, wg = _grouped(xp, weight, groups)
    grad_xg = np.zeros(xg.shape, dtype=grad_out.dtype)
    grad_wg = np.zeros(wg.shape, dtype=grad_out.dtype)
    grad_g = grad_out.reshape(n_images, groups, out_channels // groups, ho, wo)
    for i in range(ho):
        rows = _tap(i * sh, dh, kh)
        for j in range(wo):
            cols = _tap(j * sw, dw, kw)
            g = grad_g[:, :, :, i, j]  # (N, groups, O/groups)
            grad_wg += np.einsum("sgd,sgcnm->gdcnm", g, xg[:, :, :, rows, cols])
            grad_xg[:, :, :, rows, cols] += np.einsum("sgd,gdcnm->sgcnm", g, wg)
    grad_b = grad_out.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return grad_xg.reshape(cache.padded_shape), grad_wg.reshape(weight.shape), grad_b


#: Images per im2col chunk are chosen so that one chunk of columns takes about this many bytes: small enough to
#: stay in the CPU caches between being written and being multiplied, large enough for efficient matrix products.
IM2COL_CHUNK_BYTES = 2 << 20


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
        rows = _tap(p * dh, sh, geo.ho)
        for q in range(kw):
            out_cb[:, :, rows, _tap(q * dw, sw, geo.wo)] += g7[:, p, q]


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
    size = max(1, min(n_images, IM2COL_CHUNK_BYTES // max(per_image_bytes, 1)))
    return [slice(start, min(start + size, n_images)) for start in range(0, n_images, size)]


def conv2d_im2col(xp: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair = (1, 1),
                  dilation: Pair = (1, 1), groups: int = 1) -> tuple[np.ndarray, ConvCache]:
    """im2col convolution, a few images at a time: the windows of a chunk of ``B`` images are copied into a column
    matrix ``(C*kh*kw, B*L)`` and multiplied by ``W`` ``(C_out, C*kh*kw)`` in one matrix product per group.

    The chunks keep the column matrix small (:data:`IM2COL_CHUNK_BYTES`), so it is still in the CPU cache when the
    matrix product reads it; the backward pass rebuilds the columns instead of storing them all.
    """
    _check_conv_geometry(xp, weight, groups)
    n_images, channels, hp, wp = xp.shape
    out_channels = weight.shape[0]
    geo = _column_geometry((hp, wp), weight.shape[2:], stride, dilation)  # type: ignore[arg-type]
    w_g = weight.reshape(groups, out_channels // groups, -1)
    y = np.empty((n_images, out_channels, geo.ho, geo.wo), dtype=xp.dtype)
    for chunk in _chunks(n_images, channels * geo.kh * geo.kw * geo.length * xp.itemsize):
        b = chunk.stop - chunk.start
        cols = _chunk_columns(xp[chunk], geo).reshape(groups, -1, b * geo.length)
        out = np.matmul(w_g, cols).reshape(out_channels, b, geo.ho, geo.width)[..., :geo.wo]
        target = y[chunk].transpose(1, 0, 2, 3)
        if bias is None:
            target[...] = out
        else:
            np.add(out, bias.reshape(-1, 1, 1, 1), out=target)
    return y, ConvCache("im2col", xp.shape, weight, bias is not None, stride, dilation, groups, xp)


def conv2d_im2col_backward(grad_out: np.ndarray, cache: ConvCache,
                           need_input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Backward of :func:`conv2d_im2col`, chunk by chunk: ``dW += dy @ cols^T``, ``dcols = W^T @ dy``, col2im."""
    xp, weight, groups = cache.saved, cache.weight, cache.groups
    n_images, out_channels, ho, wo = grad_out.shape
    channels = xp.shape[1]
    geo = _column_geometry(xp.shape[2:], weight.shape[2:], cache.stride, cache.dilation)  # type: ignore[arg-type]
    w_g = weight.reshape(groups, out_channels // groups, -1)
    grad_w = np.zeros(w_g.shape, dtype=grad_out.dtype)
    grad_x = np.zeros(xp.shape, dtype=grad_out.dtype) if need_input_grad else None
    for chunk in _chunks(n_images, channels * geo.kh * geo.kw * geo.length * xp.itemsize):
        b = chunk.stop - chunk.start
        cols = _chunk_columns(xp[chunk], geo).reshape(groups, -1, b * geo.length)
        grad_chunk = np.zeros((out_channels, b, ho, geo.width), dtype=grad_out.dtype)
        grad_chunk[..., :wo] = grad_out[chunk].transpose(1, 0, 2, 3)  # junk columns get zero gradient
        grad_chunk = grad_chunk.reshape(groups, out_channels // groups, b * geo.length)
        # dW^T = cols @ dy^T: with the long summed axis contiguous in both operands this is about twice as fast
        # in OpenBLAS as dy @ cols^T for these skinny shapes
        grad_w += np.matmul(cols, grad_chunk.transpose(0, 2, 1)).transpose(0, 2, 1)
        if grad_x is None:
            continue
        if geo.wide:
            _chunk_input_grad_flat(grad_out[chunk], weight, groups, geo, grad_x[chunk])
        else:
            grad_cols = np.matmul(w_g.transpose(0, 2, 1), grad_chunk)
            _chunk_col2im(grad_cols.reshape(-1, b * geo.length), grad_x[chunk], geo)
    grad_b = grad_out.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return grad_x, grad_w.reshape(weight.shape), grad_b


CONV_FORWARD = {"naive": conv2d_naive, "loops2": conv2d_loops2, "im2col": conv2d_im2col}
CONV_BACKWARD = {"naive": conv2d_naive_backward, "loops2": conv2d_loops2_backward, "im2col": conv2d_im2col_backward}


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride: int | Pair = 1,
           padding: int | Pair | Sides = 0, dilation: int | Pair = 1, groups: int = 1, padding_mode: str = "zeros",
           algorithm: str = "im2col") -> np.ndarray:
    """Functional 2-D convolution (like ``torch.nn.functional.conv2d`` plus ``padding_mode``); forward only."""
    stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
    dilation = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
    if algorithm not in CONV_FORWARD:
        raise ValueError(f"algorithm must be one of {CONV_ALGORITHMS}, got {algorithm!r}")
    xp = pad2d(x, padding, padding_mode)
    return CONV_FORWARD[algorithm](xp, weight, bias, stride, dilation, groups)[0]  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------------
# pooling
class PoolCache(NamedTuple):
    padded_shape: tuple[int, int, int, int]
    kernel_size: Pair
    stride: Pair
    dilation: Pair
    saved: Any  # argmax within the window (max pooling) or the divisor (average pooling)


def _windows_disjoint(kernel_size: Pair, stride: Pair, dilation: Pair) -> bool:
    """True when no input pixel lies in two windows (stride at least the dilated kernel, in both dimensions)."""
    return all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel_size, stride, dilation, strict=True))


def max_pool2d(xp: np.ndarray, kernel_size: Pair, stride: Pair, dilation: Pair = (1, 1)) -> tuple[np.ndarray,
                                                                                                 PoolCache]:
    """Max pooling of the (-inf padded) input ``xp``: one vectorised pass per kernel position.

    Keeps the position of the maximum within each window -- the first one on ties, the last NaN if there is one
    (as torch) -- so the backward pass routes each gradient to exactly one input pixel, even for overlapping windows.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    ho, wo = output_hw(xp.shape[-2:], kernel_size, stride, dilation)
    has_nan = bool(np.isnan(xp.min())) if xp.size else False
    best = xp[:, :, _tap(0, sh, ho), _tap(0, sw, wo)].copy()
    index_type = np.int8 if kh * kw <= 127 else np.int32
    where = np.zeros(best.shape, dtype=index_type)
    better = np.empty(best.shape, dtype=bool)
    step = np.empty(best.shape, dtype=index_type)
    for k in range(1, kh * kw):
        p, q = divmod(k, kw)
        candidate = xp[:, :, _tap(p * dh, sh, ho), _tap(q * dw, sw, wo)]
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
        target = grad_x[:, :, _tap(p * dh, sh, ho), _tap(q * dw, sw, wo)]
        np.equal(cache.saved, k, out=chosen)
        if disjoint:  # every input pixel is in at most one window: write instead of add
            np.multiply(grad_out, chosen, out=target)
        else:
            np.multiply(grad_out, chosen, out=share)
            target += share
    return grad_x


def avg_pool2d(xp: np.ndarray, kernel_size: Pair, stride: Pair, divisor: np.ndarray | float) -> tuple[np.ndarray,
                                                                                                      PoolCache]:
    """Average pooling of the zero-padded input ``xp``: the window sums (one slice-add per kernel position)
    divided by ``divisor`` (a number, or an ``(H_out, W_out)`` array for ``count_include_pad=False``)."""
    (kh, kw), (sh, sw) = kernel_size, stride
    ho, wo = output_hw(xp.shape[-2:], kernel_size, stride, (1, 1))
    total = np.zeros((*xp.shape[:2], ho, wo), dtype=xp.dtype)
    for p in range(kh):
        for q in range(kw):
            total += xp[:, :, _tap(p, sh, ho), _tap(q, sw, wo)]
    divisor = np.asarray(divisor, dtype=xp.dtype)
    total /= divisor
    return total, PoolCache(xp.shape, kernel_size, stride, (1, 1), divisor)


def avg_pool2d_backward(grad_out: np.ndarray, cache: PoolCache) -> np.ndarray:
    (kh, kw), (sh, sw) = cache.kernel_size, cache.stride
    ho, wo = grad_out.shape[-2:]
    share = grad_out / cache.saved.astype(grad_out.dtype)
    grad_x = np.zeros(cache.padded_shape, dtype=grad_out.dtype)
    for p in range(kh):
        for q in range(kw):
            grad_x[:, :, _tap(p, sh, ho), _tap(q, sw, wo)] += share
    return grad_x


def avg_pool_divisor(hw: Pair, padding: Pair, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """``(H_out, W_out)`` counts of real (non-padding) pixels per window (``count_include_pad=False``)."""
    ones = np.ones((1, 1, *tuple(hw)), dtype=np.float64)
    counts, _ = avg_pool2d(pad2d(ones, padding), kernel_size, stride, 1.0)
    return counts[0, 0]
