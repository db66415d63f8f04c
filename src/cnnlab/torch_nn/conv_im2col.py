"""The fast convolution: im2col (every window a column of a matrix) and one matrix product, NCHW in and out.

For each image the windows are gathered into a column matrix ``cols`` of shape ``(G, C/G * kh * kw, P)`` (``P =
H_out * W_out`` output positions, rows ordered (channel, kernel row, kernel column) like the weight), so that

    y[s, g] = W[g] @ cols[s, g]            W[g]: (O/G, C/G * kh * kw),  y[s, g]: (O/G, P)

is already the NCHW output: no transpose afterwards. The windows come from a sliding-window *view*
(``Tensor.unfold``, no copy); the one copy is the reshape into ``cols``.

Two ways of running it, both with the same numbers up to float rounding:

- **eager** (:class:`Im2colConv2d`, a ``torch.autograd.Function``): the batch is cut into chunks whose column matrix
  stays small (a few MB, so it is still in cache when the matrix product reads it and allocations stay below
  glibc's mmap threshold, which would cost a page fault per 4 KiB page on every call) -- several images, or blocks
  of output rows of one image whose columns alone are larger (:func:`pieces`); every chunk writes its part of one
  preallocated output. Maps with few output positions (under :data:`BATCH_LAST_BELOW`) put the chunk's
  images side by side in the columns instead, so that the chunk is one long product rather than many thin ones.
  The backward is written by hand from the same matrices -- ``dW[g] = sum_s dy[s, g] @ cols[s, g]^T``,
  ``dcols[s, g] = W[g]^T @ dy[s, g]``, then col2im adds every column back onto the window it came from -- and
  recomputes ``cols`` per chunk instead of keeping them (only the input is saved, as in torch). There the chunk's
  images always sit side by side (``(G, C/G * kh * kw, m * P)``), so each product is one long matrix product.
  Depthwise layers (one input and one output channel per group) skip the matrices: a sum over the ``kh * kw``
  kernel taps of shifted input views times one weight per channel (:mod:`cnnlab.torch_nn.conv_depthwise`).
- **graph** (TorchScript, ``torch.jit.trace`` and so the TorchScript ONNX export, ``torch.compile``/``torch.export``,
  ``torch.func`` transforms such as ``vmap``; :mod:`cnnlab.torch_nn.conv_graph`): the same column matrix for the
  whole batch, stacked from one strided slice per kernel tap, and one broadcast ``matmul`` -- plain tensor operations
  whose backward autograd derives (slower than the eager one: every slice's backward fills an input-sized tensor).
  The eager backward hands over to its gradients for a batch of output gradients and for double backward.

Tried and slower on the CPU (measured with ``benchmarks/bench_torch_engine.py`` and per-op profiles): autograd's
derived backward in eager mode (2-4x torch's time: ``unfold``'s backward and the broadcast products copy), the
``setup_context`` form of the autograd function (its ``apply`` binds arguments: ~40 us a call), ``index_add_`` /
``scatter_add_`` / ``unfold_backward`` col2im, a channels-last column matrix (needs a transposed copy of the output
for NCHW), full-width rows of the flattened image as columns (fewer, longer copies but more products), an unchunked
column matrix (page faults), and for depthwise layers a per-channel product of the columns (2-30x slower than the
taps).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import torch

from cnnlab.torch_nn.chunks import images_per_chunk
from cnnlab.torch_nn.conv_depthwise import depthwise_backward, depthwise_forward, is_depthwise
from cnnlab.torch_nn.conv_graph import (
    bilinear_tangent,
    conv2d_graph,
    graph_gradients,
    needs_autograd,
    output_size,
    takes_graph_gradients,
    weight_matrices,
)

#: Upper bound of one column matrix in bytes, per device type, in the eager algorithm; ``None`` = the whole batch
#: at once (GPUs: launches cost more than memory there).
IM2COL_CHUNK_BYTES: dict[str, int | None] = {"cpu": 4 * 2**20, "cuda": None}
#: With fewer output positions per image than this, the eager forward multiplies the chunk's batch-last columns
#: ``(G, C/G * kh * kw, m * P)`` in one product and moves the result into NCHW order, instead of ``m`` products with
#: ``P`` columns each: deep layers on small maps (ResNet's last stage at 2x2: 6x faster; measured break-even near
#: ``P`` = 100 on the CPU, ``benchmarks/bench_torch_engine.py``).
BATCH_LAST_BELOW = 100


def _windows(x: torch.Tensor, kernel: list[int], stride: list[int], dilation: list[int]) -> torch.Tensor:
    """Every window of the padded input as a view ``(N, C, H_out, W_out, kh, kw)`` (every D-th tap if dilated)."""
    kh, kw = kernel[0], kernel[1]
    dh, dw = dilation[0], dilation[1]
    windows = x.unfold(2, (kh - 1) * dh + 1, stride[0]).unfold(3, (kw - 1) * dw + 1, stride[1])
    if dh > 1 or dw > 1:
        windows = windows[:, :, :, :, ::dh, ::dw]
    return windows


def columns(x: torch.Tensor, kernel: list[int], stride: list[int], dilation: list[int], groups: int) -> torch.Tensor:
    """im2col: the padded input ``(N, C, H, W)`` as ``(N, G, C/G * kh * kw, H_out * W_out)`` column matrices."""
    n, channels = x.shape[0], x.shape[1]
    windows = _windows(x, kernel, stride, dilation)
    out_h, out_w = windows.shape[2], windows.shape[3]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, groups, channels // groups * kernel[0] * kernel[1],
                                                     out_h * out_w)


def columns_batch_last(x: torch.Tensor, kernel: list[int], stride: list[int], dilation: list[int],
                       groups: int) -> torch.Tensor:
    """The same columns with the images side by side: ``(G, C/G * kh * kw, N * H_out * W_out)``, so that a sum over
    the batch (the weight gradient) is one long matrix product instead of ``N`` short ones."""
    n, channels = x.shape[0], x.shape[1]
    windows = _windows(x, kernel, stride, dilation)
    out_h, out_w = windows.shape[2], windows.shape[3]
    return windows.permute(1, 4, 5, 0, 2, 3).reshape(groups, channels // groups * kernel[0] * kernel[1],
                                                     n * out_h * out_w)


def conv2d_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
                  dilation: list[int], groups: int) -> torch.Tensor:
    """The fast algorithm on a padded ``(N, C, H, W)`` input: eager (chunked, hand-written backward) or, when
    scripting, tracing, compiling, exporting or inside a ``torch.func`` transform, the plain graph of
    :func:`conv2d_graph`."""
    if torch.jit.is_scripting():
        return conv2d_graph(x, weight, bias, stride, dilation, groups)
    if not runs_eagerly():
        return conv2d_graph(x, weight, bias, stride, dilation, groups)
    geometry = (stride[0], stride[1]), (dilation[0], dilation[1])
    if needs_autograd(x, weight, bias):
        return Im2colConv2d.apply(x, weight, bias, *geometry, groups)
    return _forward(x, weight, bias, *geometry, groups)  # nothing to differentiate: no autograd node


def runs_eagerly() -> bool:
    """Whether the eager algorithm may run (called outside TorchScript): not when tracing, compiling or inside a
    ``torch.func`` transform, which get the plain graph."""
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling() or _functorch_transform_active())


def _functorch_transform_active() -> bool:
    """Whether a ``torch.func`` transform (``vmap``, ``grad``, ``jacrev``, ...) is running. Their tensors are
    wrappers that the eager algorithm's preallocated outputs cannot hold, so they get the plain graph, whose ops
    all have batching and gradient rules. (torch has no public query for this; the interpreter stack is it.)"""
    return torch._C._functorch.peek_interpreter_stack() is not None


# ------------------------------------------------------------------------------------------- the eager algorithm
def _tap(x: torch.Tensor, i: int, j: int, out_hw: tuple[int, int], stride: tuple[int, int],
         dilation: tuple[int, int]) -> torch.Tensor:
    """The input pixels that kernel tap ``(i, j)`` multiplies, for every output position: ``(N, C, H_out, W_out)``."""
    (sh, sw), (dh, dw), (out_h, out_w) = stride, dilation, out_hw
    return x[:, :, i * dh: i * dh + sh * (out_h - 1) + 1: sh, j * dw: j * dw + sw * (out_w - 1) + 1: sw]


class Piece(NamedTuple):
    """A part of the batch whose column matrix stays within the chunk budget: ``images`` whole images from
    ``first`` on, or, when one image's columns are larger than the budget, the output rows ``[row, row + rows)``
    of one image."""

    first: int
    images: int
    row: int
    rows: int


def pieces(x: torch.Tensor, out_h: int, bytes_per_row: int) -> list[Piece]:
    """The batch ``x`` cut into :class:`Piece` s for a layer whose column matrix takes ``bytes_per_row`` bytes per
    output row of one image. Blocks of rows rather than whole large images keep every matrix product narrow:
    MKL multiplies ``(64, 576) @ (576, P)`` 20-40% faster for ``P`` = 800-1600 than for one 56x56 image's 3136
    columns (2 threads, this CPU), and the block's columns stay in the cache."""
    n = x.shape[0]
    limit = IM2COL_CHUNK_BYTES.get(x.device.type)
    if limit is None or bytes_per_row * out_h <= limit:
        step = images_per_chunk(IM2COL_CHUNK_BYTES, x, bytes_per_row * out_h)
        return [Piece(first, min(step, n - first), 0, out_h) for first in range(0, n, step)]
    blocks = -(-out_h // max(1, limit // max(1, bytes_per_row)))  # the fewest that fit the budget
    bounds = [k * out_h // blocks for k in range(blocks + 1)]  # heights differ by at most one row
    return [Piece(first, 1, top, bottom - top) for first in range(n) for top, bottom in itertools.pairwise(bounds)]


def _input_rows(x: torch.Tensor, piece: Piece, kernel_h: int, stride_h: int, dilation_h: int) -> torch.Tensor:
    """The padded input rows that the piece's output rows read: ``(images, C, rows_in, W)``, a view."""
    top = piece.row * stride_h
    bottom = (piece.row + piece.rows - 1) * stride_h + (kernel_h - 1) * dilation_h + 1
    return x[piece.first:piece.first + piece.images, :, top:bottom]


def _forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
             dilation: tuple[int, int], groups: int) -> torch.Tensor:
    n = x.shape[0]
    out_channels, _, kh, kw = weight.shape
    out_h = output_size(x.shape[2], kh, stride[0], dilation[0])
    out_w = output_size(x.shape[3], kw, stride[1], dilation[1])
    if is_depthwise(weight, groups):  # (padded by F.pad for the non-zero padding modes)
        return depthwise_forward(x, weight, bias, stride, [0, 0, 0, 0], dilation)
    out = x.new_empty((n, out_channels, out_h, out_w))
    filters = weight_matrices(weight, groups)
    positions = out_h * out_w
    out_groups = out.view(n, groups, out_channels // groups, positions)
    for piece in pieces(x, out_h, x.shape[1] * kh * kw * out_w * x.element_size()):
        rows = _input_rows(x, piece, kh, stride[0], dilation[0])
        part = out_groups[piece.first:piece.first + piece.images, :, :,
                          piece.row * out_w:(piece.row + piece.rows) * out_w]
        if positions < BATCH_LAST_BELOW:  # one long product for the chunk, then its output moved into NCHW order
            cols = columns_batch_last(rows, [kh, kw], list(stride), list(dilation), groups)
            product = torch.bmm(filters[0], cols).view(groups, out_channels // groups, piece.images, -1)
            part.copy_(product.permute(2, 0, 1, 3))
        else:  # one product per image (or block of its rows), written straight into the output
            torch.matmul(filters, columns(rows, [kh, kw], list(stride), list(dilation), groups), out=part)
        if bias is not None:
            part.add_(bias.view(1, groups, out_channels // groups, 1))
    return out


def _add_columns(dx: torch.Tensor, dcols: torch.Tensor, kernel: tuple[int, int], out_hw: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int]) -> None:
    """col2im: add every column of ``dcols`` ``(G, C/G * kh * kw, m * P)`` (batch-last columns) back onto its window
    of ``dx`` ``(m, C, H, W)`` (in place), one kernel tap at a time."""
    m, channels = dx.shape[0], dx.shape[1]
    (kh, kw), (out_h, out_w) = kernel, out_hw
    per_tap = dcols.view(channels, kh, kw, m, out_h, out_w)
    by_channel = dx.transpose(0, 1)  # (C, m, H, W), a view
    for i in range(kh):
        for j in range(kw):
            _tap(by_channel, i, j, out_hw, stride, dilation).add_(per_tap[:, i, j])


def _backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
              dilation: tuple[int, int], groups: int, needs: tuple[bool, bool, bool]
              ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Gradients of the input, weight and bias (each only if ``needs`` says so) from ``grad`` ``(N, O, H_out,
    W_out)``."""
    need_x, need_w, need_b = needs
    n = x.shape[0]
    out_channels, cin_g, kh, kw = weight.shape
    out_h, out_w = grad.shape[2], grad.shape[3]
    grad = grad.contiguous()
    db = grad.sum(dim=(0, 2, 3)) if need_b else None
    if is_depthwise(weight, groups):
        return (*depthwise_backward(grad, x, weight, stride, [0, 0, 0, 0], dilation, need_x, need_w), db)
    # dx is filled in place (col2im); dw is summed out of place: under vmap the sums may be batched, the weight not.
    dx = torch.zeros_like(x) if need_x else None
    dw: torch.Tensor | None = None
    filters = weight_matrices(weight, groups)[0]  # (G, O/G, C/G * kh * kw)
    grads = grad.view(n, groups, out_channels // groups, out_h * out_w)
    for piece in pieces(x, out_h, x.shape[1] * kh * kw * out_w * x.element_size()):
        images = slice(piece.first, piece.first + piece.images)
        positions = slice(piece.row * out_w, (piece.row + piece.rows) * out_w)
        # (G, O/G, m * P): the piece's output gradients with the images side by side, like batch-last columns.
        g = grads[images, :, :, positions].permute(1, 2, 0, 3).reshape(groups, out_channels // groups, -1)
        if need_w:
            cols = columns_batch_last(_input_rows(x, piece, kh, stride[0], dilation[0]), [kh, kw], list(stride),
                                      list(dilation), groups)
            part = torch.bmm(g, cols.transpose(1, 2)).view(out_channels, cin_g, kh, kw)
            dw = part if dw is None else dw + part
        if dx is not None:
            dcols = torch.bmm(filters.transpose(1, 2), g)  # (G, C/G * kh * kw, m * P)
            _add_columns(_input_rows(dx, piece, kh, stride[0], dilation[0]), dcols, (kh, kw),
                         (piece.rows, out_w), stride, dilation)
    if need_w and dw is None:  # an empty batch
        dw = torch.zeros_like(weight)
    return dx, dw, db


class Im2colConv2d(torch.autograd.Function):
    """The eager algorithm as an autograd function: ``apply(x_padded, weight, bias, stride, dilation, groups)``.

    Written with ``ctx`` in ``forward`` (the classic form, whose ``apply`` costs a few microseconds rather than the
    tens that argument binding costs the ``setup_context`` form); ``torch.func`` transforms never reach it."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], dilation: tuple[int, int], groups: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)
        ctx.geometry = (stride, dilation, groups)
        return _forward(x, weight, bias, stride, dilation, groups)

    @staticmethod
    def jvp(ctx: Any, x_dot: torch.Tensor | None, weight_dot: torch.Tensor | None, bias_dot: torch.Tensor | None,
            *_: Any) -> torch.Tensor:
        """Forward-mode derivative (``torch.autograd.forward_ad``): the convolution is linear in each argument, so
        ``d(conv(x, W) + b) = conv(dx, W) + conv(x, dW) + db``."""
        x, weight = ctx.saved_tensors
        stride, dilation, groups = ctx.geometry
        return bilinear_tangent(lambda a, w: _forward(a, w, None, stride, dilation, groups), x, weight,
                                x_dot, weight_dot, bias_dot)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, dilation, groups = ctx.geometry
        needs = ctx.needs_input_grad
        if takes_graph_gradients(grad):
            return (*graph_gradients(grad, x, weight, stride, [0, 0, 0, 0], dilation, groups, needs[:3]),
                    None, None, None)
        return (*_backward(grad, x, weight, stride, dilation, groups, (needs[0], needs[1], needs[2])),
                None, None, None)
