"""Linear and 2-D convolution written with plain tensor operations; autograd derives the backward passes.

No ``torch.nn.functional.linear`` / ``conv*`` / ``unfold`` and no ``nn.Linear`` / ``nn.Conv*``: the forward passes
below use only matrix products, sliding-window views (``Tensor.unfold``), reshapes and sums. ``F.pad`` applies the
padding of every mode (torch defines the non-zero modes as "pad, then convolve without padding").

Convolution algorithms (all give the same numbers up to float rounding):

- ``"naive"``: the reference, straight from the seed's equation 4
  ``y[s, d, i, j] = sum_{c, n, m} x[s, c, i*S + n*D, j*S + m*D] * W[d, c, n, m] + b[d]``:
  a Python loop over output positions ``(i, j)``, each a sum over the window of elementwise products.
- ``"im2col"`` (default): every window is gathered from a channels-last sliding-window view into a row of a
  column matrix, and one matrix product per group and batch chunk computes all outputs at once. Two refinements
  make it fast on the CPU:

  * narrow layers (few output channels per group) put the windows of ``T`` horizontally adjacent outputs into one
    row (a strip ``kw + T - 1`` columns wide) and multiply by a banded filter matrix with ``T`` times the columns:
    matrix products with only 8 or 16 columns run far below the BLAS's speed, and the column matrix gets smaller;
  * the batch is cut into chunks whose column matrix stays small (a few MB): allocations above glibc's mmap
    threshold (32 MB), which cost a page fault per 4 KiB page on every call, are avoided, and the chunks write into
    one preallocated output.

  The result is returned channels-last (a permuted view, logically NCHW), which pooling layers process fastest.

Tried and slower on the CPU (``benchmarks/bench_torch_engine.py`` measures the choice): ``einsum`` over the window
view, a per-image NCHW column matrix with a batched product, one unchunked column matrix (page faults), and the
transposed product ``W @ cols^T`` (the transpose back costs what it saves).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cnnlab.geometry import Conv2dSpec, channel_hint, conv_output_size

CONV_ALGORITHMS = ("im2col", "naive")

#: Upper bound of one im2col column matrix in bytes, per device type; ``None`` = whole batch at once.
IM2COL_CHUNK_BYTES: dict[str, int | None] = {"cpu": 4 * 2**20, "cuda": None}

_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _check_same_type(layer: str, x: torch.Tensor, weight: torch.Tensor) -> None:
    """``RuntimeError`` (torch's type) when ``x`` cannot meet ``weight``: other dtype or other device."""
    if x.dtype != weight.dtype:
        if x.is_floating_point():
            fix = f"convert the input (x.to({weight.dtype})) or the layer (layer.to({x.dtype}))"
        else:
            fix = "integer pixels (e.g. uint8)? convert them first, e.g. x.float() / 255"
        raise RuntimeError(f"{layer}: input dtype {x.dtype} does not match the parameters' dtype {weight.dtype}; "
                           f"{fix}.")
    if x.device != weight.device:
        raise RuntimeError(
            f"{layer}: input is on {x.device} but the parameters are on {weight.device}; move one of them "
            f"(x.to('{weight.device}') or model.to('{x.device}'))."
        )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``y = x W^T + b`` over the last axis of ``x`` (shape ``(*, in_features)`` -> ``(*, out_features)``)."""
    in_features = weight.shape[1]
    if x.dim() == 0 or x.shape[-1] != in_features:
        shape = tuple(x.shape)
        hint = ""
        if x.dim() > 2 and math.prod(shape[1:]) == in_features:
            hint = " Images or feature maps (N, C, H, W)? Flatten them first: nn.Flatten() or x.flatten(1)."
        raise RuntimeError(
            f"Linear: expected input of shape (*, {in_features}) (last axis = in_features), got shape {shape}.{hint}"
        )
    _check_same_type("Linear", x, weight)
    if x.dim() == 2 and bias is not None:
        return torch.addmm(bias, x, weight.t())
    out = torch.matmul(x, weight.t())
    return out if bias is None else out + bias


def _prepare_conv_input(x: torch.Tensor, weight: torch.Tensor, spec: Conv2dSpec) -> tuple[torch.Tensor, bool]:
    """Validate like ``nn.Conv2d`` (``RuntimeError`` with clearer messages); return the padded 4-D input."""
    if x.dim() not in (3, 4):
        hint = ""
        if x.dim() == 2:
            hint = " A single grayscale image (H, W)? Add the channel axis: x[None] (and x[None, None] for a batch)."
        elif x.dim() == 5:
            hint = " A video or stacked batches? Merge the leading axes into N: x.flatten(0, 1)."
        raise RuntimeError(
            f"Conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(x.shape)} "
            f"({x.dim()}-D).{hint}"
        )
    unbatched = x.dim() == 3
    if unbatched:
        x = x.unsqueeze(0)
    if x.shape[1] != spec.in_channels:
        c = spec.in_channels
        raise RuntimeError(
            f"Conv2d: expected input with {c} channels, (N, {c}, H, W) or ({c}, H, W), got shape "
            f"{tuple(x.shape[1:] if unbatched else x.shape)} with {x.shape[1]} channel{'s' * (x.shape[1] != 1)}."
            f"{channel_hint(tuple(x.shape), c)}"
        )
    _check_same_type("Conv2d", x, weight)
    (top, bottom), (left, right) = spec.padding_sides
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), mode=_PAD_MODES[spec.padding_mode])
    height, width = x.shape[-2:]
    kh, kw = ((k - 1) * d + 1 for k, d in zip(spec.kernel_size, spec.dilation, strict=True))
    if kh > height or kw > width:
        raise RuntimeError(
            f"Conv2d: the padded input is {height} x {width} (H x W) but the kernel covers {kh} x {kw} pixels "
            f"(kernel {spec.kernel_size}, dilation {spec.dilation}); the kernel can't be larger than the input. "
            f"Use a larger input, more padding or a smaller kernel."
        )
    return x, unbatched


def _output_size(x: torch.Tensor, spec: Conv2dSpec) -> tuple[int, int]:
    """``(H_out, W_out)`` of the already padded input ``x``."""
    return conv_output_size(tuple(x.shape[-2:]), spec.kernel_size, spec.stride, 0, spec.dilation)  # type: ignore


def _conv_naive(x: torch.Tensor, weight: torch.Tensor, spec: Conv2dSpec) -> torch.Tensor:
    """Equation 4, one output position at a time (``x`` already padded, bias excluded)."""
    n = x.shape[0]
    groups, (sh, sw), (dh, dw) = spec.groups, spec.stride, spec.dilation
    kh, kw = spec.kernel_size
    out_h, out_w = _output_size(x, spec)
    out_channels, cin_g = weight.shape[:2]
    # (1, G, O/G, C/G, kh, kw): the filters of each group, broadcast against (N, G, 1, C/G, kh, kw) windows.
    w = weight.reshape(1, groups, out_channels // groups, cin_g, kh, kw)
    columns = []
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * sh: i * sh + (kh - 1) * dh + 1: dh, j * sw: j * sw + (kw - 1) * dw + 1: dw]
            window = window.reshape(n, groups, 1, cin_g, kh, kw)
            columns.append((window * w).sum(dim=(3, 4, 5)).reshape(n, out_channels))
    return torch.stack(columns, dim=-1).reshape(n, out_channels, out_h, out_w)


def _width_tile(out_w: int, out_g: int, kw: int, dw: int) -> int:
    """How many horizontally adjacent outputs one row of the column matrix serves (1 = classic im2col).

    With few output channels per group the matrix product is narrow and slow; a row holding the window of ``T``
    neighbouring outputs (a ``kw + T - 1`` wide strip, stride 1) against a banded filter matrix gives it ``T`` times
    the columns, while the column matrix shrinks. Aim for ~32 product columns, at most ``kw - 1`` outputs per strip
    (the band's zeros cost at most 2x the multiply-adds), a divisor of the output width (no ragged strip), and only
    without horizontal dilation.
    """
    if dw != 1 or kw == 1:
        return 1
    target = min(-(-32 // out_g), kw - 1)
    return max(t for t in range(1, target + 1) if out_w % t == 0)


def _filter_matrix(weight: torch.Tensor, groups: int, tile: int, sw: int, width: int) -> torch.Tensor:
    """Filters as ``(G, T*O/G, kh*width*C/G)``: columns ordered (kernel row, strip column, channel) like the rows
    of the column matrix; entry ``[g, t*O/G + o, (i, w, c)] = W[g*O/G + o, c, i, w - t*sw]`` (0 outside the kernel)."""
    out_channels, cin_g, kh, kw = weight.shape
    out_g = out_channels // groups
    if tile == 1:
        return weight.reshape(groups, out_g, cin_g, kh, kw).permute(0, 1, 3, 4, 2).reshape(groups, out_g, -1)
    taps = torch.arange(width, device=weight.device)[:, None] - sw * torch.arange(tile, device=weight.device)
    taps = torch.where((taps >= 0) & (taps < kw), taps, kw)  # tap kw: the zero appended below
    banded = F.pad(weight, (0, 1))[..., taps]  # (O, C/G, kh, width, T)
    return banded.reshape(groups, out_g, cin_g, kh, width, tile).permute(0, 5, 1, 3, 4, 2).reshape(
        groups, tile * out_g, -1)


def _conv_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: Conv2dSpec) -> torch.Tensor:
    """All windows as rows of a column matrix (channels-last), times the filters as a matrix (``x`` padded)."""
    n, _, height, width = x.shape
    groups, (sh, sw), (dh, dw) = spec.groups, spec.stride, spec.dilation
    kh, kw = spec.kernel_size
    out_h, out_w = _output_size(x, spec)
    out_channels, cin_g = weight.shape[:2]
    out_g = out_channels // groups
    tile = _width_tile(out_w, out_g, kw, dw)
    span = (tile - 1) * sw + (kw - 1) * dw + 1  # input columns under one row's strip (dilation gaps included)
    strip = (span - 1) // dw + 1  # columns kept per strip: every dw-th
    k = kh * strip * cin_g
    # A transposed view of a (G, T*O/G, K) matrix: the layout MKL multiplies fastest for few output channels.
    w = _filter_matrix(weight, groups, tile, sw, strip).transpose(1, 2)
    b = None if bias is None else bias.view(groups, 1, out_g).repeat(1, tile, 1).view(groups, tile * out_g)
    # Channels-last: a strip row (columns, channels) is then one contiguous run of memory (dilation 1).
    x = x.permute(0, 2, 3, 1).contiguous().view(n, height, width, groups, cin_g)

    limit = IM2COL_CHUNK_BYTES.get(x.device.type)
    rows = out_h * out_w // tile  # column-matrix rows per image
    step = n if limit is None else max(1, limit // max(1, rows * k * groups * x.element_size()))
    out = None if step >= n else torch.empty(n * out_h * out_w, out_channels, dtype=x.dtype, device=x.device)
    for start in range(0, max(n, 1), step):
        chunk = x[start:start + step]
        m = chunk.shape[0]
        # (m, out_h, out_w / T, G, C/G, kh_eff, span) sliding strips, a view; then keep every D-th tap.
        windows = chunk.unfold(1, (kh - 1) * dh + 1, sh).unfold(2, span, tile * sw)
        if dh > 1 or dw > 1:
            windows = windows[..., ::dh, ::dw]
        if groups == 1:
            cols = windows.permute(0, 1, 2, 3, 5, 6, 4).reshape(m * rows, k)
            part = torch.mm(cols, w[0]) if b is None else torch.addmm(b[0], cols, w[0])
        else:
            cols = windows.permute(3, 0, 1, 2, 5, 6, 4).reshape(groups, m * rows, k)
            part = torch.bmm(cols, w) if b is None else torch.baddbmm(b[:, None], cols, w)
            part = part.view(groups, m * rows * tile, out_g).permute(1, 0, 2)
        part = part.reshape(m * out_h * out_w, out_channels)  # rows (image, y, x), a view for groups == 1
        if out is None:
            out = part
        else:
            out[start * out_h * out_w:(start + m) * out_h * out_w] = part
    assert out is not None  # n >= 1, so at least one chunk ran
    return out.view(n, out_h, out_w, out_channels).permute(0, 3, 1, 2)


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    spec: Conv2dSpec,
    algorithm: str = "im2col",
) -> torch.Tensor:
    """2-D cross-correlation of ``x`` (``(N, C, H, W)`` or unbatched ``(C, H, W)``) as ``nn.Conv2d`` computes it.

    ``spec`` holds the validated geometry (stride, padding and its mode, dilation, groups); ``algorithm`` is one of
    :data:`CONV_ALGORITHMS`. Raises ``RuntimeError`` for inputs ``nn.Conv2d`` rejects, naming the likely cause.
    """
    if algorithm not in CONV_ALGORITHMS:
        raise ValueError(f"unknown conv algorithm {algorithm!r}; choose one of {', '.join(CONV_ALGORITHMS)}")
    x, unbatched = _prepare_conv_input(x, weight, spec)
    if algorithm == "naive":
        out = _conv_naive(x, weight, spec)
        if bias is not None:
            out = out + bias.view(1, -1, 1, 1)
    else:
        out = _conv_im2col(x, weight, bias, spec)
    return out.squeeze(0) if unbatched else out
