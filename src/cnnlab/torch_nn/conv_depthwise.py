r"""Depthwise convolution (one input and one output channel per group: MobileNet's 3x3 layers) without matrices.

    y[s, c] = b[c] + sum_{i, j} W[c, 0, i, j] * x[s, c, i*D_h + S_h*u, j*D_w + S_w*v]

is a sum over the ``kh * kw`` kernel taps of shifted views of the (padded) input, each times one weight per
channel: one multiply-add pass over the output per tap. What decides the speed of such passes is the length of
their contiguous runs (a pass over rows of a few pixels is 5-8x slower per element than one over long runs), so
there are two layouts, both with the same numbers up to float rounding:

- **flat runs** (most maps): every padded channel is flattened (``x_flat[u * W_p + v] = x[u, v]``) and every
  output row is computed at all ``W_p`` columns instead of the ``W_out`` valid ones, so that tap ``(i, j)`` of all
  outputs of a channel is *one* contiguous run of ``x_flat``, shifted by ``i*D_h*W_p + j*D_w`` (the "wide"
  columns of the NumPy engine's :mod:`~cnnlab.numpy_nn.kernels.conv_fast`). The extra outputs at the end of every
  row are cropped (and get zero gradient). A strided convolution first splits the input into its ``S_h * S_w``
  phases ``x[a::S_h, b::S_w]`` (one copy): inside a phase every tap of a stride-``S`` convolution is a stride-1
  shift, so strided layers get contiguous runs too.
- **channels-last** (maps whose flat runs would be short, under :data:`FLAT_RUNS_FROM`: MobileNet's 4x4 maps and
  its 8x8 stride-2 layer): the taps run on an ``(N, H, W, C)`` copy, where every tap is a run of contiguous
  channels; the result is copied back to NCHW. (The two copies cost about as much as the taps, which is why the
  flat runs are preferred wherever they are long enough.)

The backward passes are the same sums turned around: ``dx[tap] += dy * W[c, tap]`` (in place, tap by tap) and
``dW[c, tap] = sum dy * x[tap]``. The flat layout pads and splits the input chunk by chunk (a few images at a time,
so that the chunk stays in the CPU cache), never the whole batch at once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from cnnlab.torch_nn.chunks import images_per_chunk
from cnnlab.torch_nn.conv_graph import (
    bilinear_tangent,
    graph_gradients,
    needs_autograd,
    output_size,
    takes_graph_gradients,
)

#: Upper bound of one chunk's input in bytes, per device type; ``None`` = the whole batch at once (GPUs).
DEPTHWISE_CHUNK_BYTES: dict[str, int | None] = {"cpu": 4 * 2**20, "cuda": None}
#: Flat runs at least this long (:attr:`TapPlan.run`) take the flat layout, shorter ones the channels-last copy.
#: Measured forward, 16 images, 1 thread, channels-last vs flat: 4x4 maps of 960 channels (runs of 22) 1.5 vs
#: 1.8 ms; 8x8 maps of 384 channels (runs of 78) 2.8 vs 2.0 ms.
FLAT_RUNS_FROM = 64


def is_depthwise(weight: torch.Tensor, groups: int) -> bool:
    """One input and one output channel per group (MobileNet's depthwise layers)."""
    return groups > 1 and weight.shape[0] == groups and weight.shape[1] == 1


class TapPlan(NamedTuple):
    """Where each kernel tap's run starts in the flattened phases of a padded input ``(H_p, W_p)``.

    The input is split into ``S_h * S_w`` phases of ``phase_hw = (ceil(H_p / S_h), ceil(W_p / S_w))`` pixels
    (one phase, the input itself, for stride 1); output ``(u, v)`` sits at ``u * phase_hw[1] + v`` and tap
    ``(i, j)`` reads phase ``((i*D_h) % S_h, (j*D_w) % S_w)`` from ``((i*D_h) // S_h) * phase_hw[1] + (j*D_w) //
    S_w`` on, for ``run = (H_out - 1) * phase_hw[1] + W_out`` positions."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    out_hw: tuple[int, int]
    phase_hw: tuple[int, int]

    @property
    def run(self) -> int:
        return (self.out_hw[0] - 1) * self.phase_hw[1] + self.out_hw[1]

    def tap(self, i: int, j: int) -> tuple[int, int]:
        """``(phase, start)`` of kernel tap ``(i, j)``."""
        (sh, sw), (dh, dw) = self.stride, self.dilation
        row, col = i * dh, j * dw
        return (row % sh) * sw + col % sw, (row // sh) * self.phase_hw[1] + col // sw


def _phase_slices(size: int, before: int, stride: int, phase: int, phase_size: int) -> tuple[slice, slice]:
    """Along one axis: which entries of phase ``phase`` (padded positions ``phase + k * stride``) hold input pixels
    (``size`` of them after ``before`` zeros), and which input pixels they are."""
    first = max(0, -(-(before - phase) // stride))  # first k with phase + k*stride >= before
    start = first * stride + phase - before  # the input pixel it holds
    count = max(0, min(phase_size - first, -(-(size - start) // stride)))
    return slice(first, first + count), slice(start, start + (count - 1) * stride + 1 if count else start, stride)


def _phase_copies(x: torch.Tensor, plan: TapPlan, padding: list[int], phases: torch.Tensor,
                  into_phases: bool) -> None:
    """Copy the unpadded ``x`` ``(m, C, H, W)`` into its places in the zero-padded phases ``(m, C, S_h, S_w,
    phase_h, phase_w)`` (``into_phases``), or those places back into ``x``; one copy per phase, padding untouched.
    ``padding`` is ``[left, right, top, bottom]``."""
    (sh, sw), (ph, pw) = plan.stride, plan.phase_hw
    for a in range(sh):
        phase_rows, rows = _phase_slices(x.shape[2], padding[2], sh, a, ph)
        for b in range(sw):
            phase_cols, cols = _phase_slices(x.shape[3], padding[0], sw, b, pw)
            inside = phases[:, :, a, b, phase_rows, phase_cols]
            pixels = x[:, :, rows, cols]
            if into_phases:
                inside.copy_(pixels)
            else:
                pixels.copy_(inside)


def depthwise_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                      padding: list[int], dilation: tuple[int, int]) -> torch.Tensor:
    """``(N, C, H, W)`` input, zero-padded by ``padding`` (``[left, right, top, bottom]``) chunk by chunk, weight
    ``(C, 1, kh, kw)`` -> ``(N, C, H_out, W_out)`` (contiguous)."""
    plan = _plan(x, weight, stride, padding, dilation)
    if plan.run < FLAT_RUNS_FROM:
        return _forward_channels_last(x, weight, bias, plan, padding)
    n, channels = x.shape[0], x.shape[1]
    kh, kw = plan.kernel
    (out_h, out_w), (sh, sw), (ph, pw) = plan.out_hw, plan.stride, plan.phase_hw
    out = x.new_empty((n, channels, out_h, out_w))
    taps = weight.reshape(1, channels, kh * kw, 1)
    step = images_per_chunk(DEPTHWISE_CHUNK_BYTES, x, channels * sh * sw * ph * pw * x.element_size())
    buffer = x.new_zeros((min(step, n), channels, sh, sw, ph, pw))  # the zeros are the padding, for every chunk
    for first in range(0, n, step):
        chunk = x[first:first + step]
        m = chunk.shape[0]
        _phase_copies(chunk, plan, padding, buffer[:m], into_phases=True)
        flat = buffer[:m].view(m, channels, sh * sw, ph * pw)
        rows = x.new_empty((m, channels, out_h * pw))  # every output row at the phase's full width
        runs = rows[:, :, :plan.run]
        for i in range(kh):
            for j in range(kw):
                phase, start = plan.tap(i, j)
                tap = flat[:, :, phase, start:start + plan.run]
                if i == 0 and j == 0:
                    torch.mul(tap, taps[:, :, 0], out=runs)
                else:
                    runs.addcmul_(tap, taps[:, :, i * kw + j])
        if bias is not None:
            runs.add_(bias.view(1, channels, 1))
        out[first:first + step].copy_(rows.view(m, channels, out_h, pw)[:, :, :, :out_w])  # the crop
    return out


def depthwise_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                       padding: list[int], dilation: tuple[int, int], need_x: bool, need_w: bool
                       ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gradients of the (unpadded) input ``(N, C, H, W)`` and of the weight ``(C, 1, kh, kw)`` (each only if asked
    for) from ``grad`` ``(N, C, H_out, W_out)``: ``dx[tap] += dy * W[c, tap]``, ``dW[c, tap] = sum dy * x[tap]``."""
    plan = _plan(x, weight, stride, padding, dilation)
    if plan.run < FLAT_RUNS_FROM:
        return _backward_channels_last(grad, x, weight, plan, padding, need_x, need_w)
    n, channels = x.shape[0], x.shape[1]
    kh, kw = plan.kernel
    (out_h, out_w), (sh, sw), (ph, pw) = plan.out_hw, plan.stride, plan.phase_hw
    dx = x.new_empty(x.shape) if need_x else None
    taps = weight.reshape(1, channels, kh * kw, 1)
    tap_sums: list[torch.Tensor] = []
    step = images_per_chunk(DEPTHWISE_CHUNK_BYTES, x, channels * sh * sw * ph * pw * x.element_size())
    phases_shape = (min(step, n), channels, sh, sw, ph, pw)
    inputs = x.new_zeros(phases_shape) if need_w else None
    grads = x.new_zeros(phases_shape) if need_x else None
    rows = x.new_zeros((min(step, n), channels, out_h, pw))  # the cropped outputs' columns keep zero gradient
    for first in range(0, n, step):
        m = min(step, n - first)
        rows[:m, :, :, :out_w].copy_(grad[first:first + step])
        runs = rows[:m].view(m, channels, out_h * pw)[:, :, :plan.run]
        flat = dflat = product = None
        if inputs is not None:
            _phase_copies(x[first:first + step], plan, padding, inputs[:m], into_phases=True)
            flat = inputs[:m].view(m, channels, sh * sw, ph * pw)
            product = x.new_empty((m, channels, plan.run))
        if grads is not None:
            dflat = grads[:m].zero_().view(m, channels, sh * sw, ph * pw)
        for i in range(kh):
            for j in range(kw):
                phase, start = plan.tap(i, j)
                if dflat is not None:
                    dflat[:, :, phase, start:start + plan.run].addcmul_(runs, taps[:, :, i * kw + j])
                if flat is not None and product is not None:
                    torch.mul(runs, flat[:, :, phase, start:start + plan.run], out=product)
                    tap_sums.append(product.sum(dim=(0, 2)))
        if dx is not None and grads is not None:
            _phase_copies(dx[first:first + step], plan, padding, grads[:m], into_phases=False)
    dw = _weight_grad(tap_sums, weight) if need_w else None
    return dx, dw


def _plan(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], padding: list[int],
          dilation: tuple[int, int]) -> TapPlan:
    """The :class:`TapPlan` of ``x`` ``(N, C, H, W)`` zero-padded by ``padding`` (``[left, right, top, bottom]``)."""
    kh, kw = weight.shape[2], weight.shape[3]
    height, width = x.shape[2] + padding[2] + padding[3], x.shape[3] + padding[0] + padding[1]
    out_hw = (output_size(height, kh, stride[0], dilation[0]), output_size(width, kw, stride[1], dilation[1]))
    phase_hw = (-(-height // stride[0]), -(-width // stride[1]))
    return TapPlan((kh, kw), stride, dilation, out_hw, phase_hw)


def _weight_grad(tap_sums: list[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """``(chunks * kh * kw)`` per-channel sums ``(C,)``, tap-major per chunk -> ``dW`` ``(C, 1, kh, kw)`` (zeros for
    an empty batch)."""
    if not tap_sums:
        return torch.zeros_like(weight)
    channels, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
    sums = torch.stack(tap_sums).view(-1, kh * kw, channels).sum(0)
    return sums.t().reshape(channels, 1, kh, kw)


class DepthwiseConv2d(torch.autograd.Function):
    """``apply(x, weight, bias, stride, padding, dilation)``: the eager depthwise convolution with zero padding
    ``[left, right, top, bottom]`` applied chunk by chunk (no padded copy of the whole batch); saves the unpadded
    input."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: list[int], dilation: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)
        ctx.geometry = (stride, padding, dilation)
        return depthwise_forward(x, weight, bias, stride, padding, dilation)

    @staticmethod
    def jvp(ctx: Any, x_dot: torch.Tensor | None, weight_dot: torch.Tensor | None, bias_dot: torch.Tensor | None,
            *_: Any) -> torch.Tensor:
        """Forward-mode derivative: ``conv(dx, W) + conv(x, dW) + db`` (the convolution is linear in each)."""
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        return bilinear_tangent(lambda a, w: depthwise_forward(a, w, None, stride, padding, dilation), x, weight,
                                x_dot, weight_dot, bias_dot)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        needs = ctx.needs_input_grad
        if takes_graph_gradients(grad):
            return (*graph_gradients(grad, x, weight, stride, padding, dilation, weight.shape[0], needs[:3]),
                    None, None, None)
        grad = grad.contiguous()
        dx, dw = depthwise_backward(grad, x, weight, stride, padding, dilation, needs[0], needs[1])
        db = grad.sum(dim=(0, 2, 3)) if needs[2] else None
        return dx, dw, db, None, None, None


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                     padding: list[int], dilation: tuple[int, int]) -> torch.Tensor:
    """The eager depthwise convolution of ``x`` ``(N, C, H, W)`` zero-padded by ``padding`` (``[left, right, top,
    bottom]``): an autograd node only where a gradient is wanted."""
    if needs_autograd(x, weight, bias):
        return DepthwiseConv2d.apply(x, weight, bias, stride, padding, dilation)
    return depthwise_forward(x, weight, bias, stride, padding, dilation)


# ------------------------------------------------------------------------------------- channels-last, short runs
def _nhwc_tap(x_nhwc: torch.Tensor, i: int, j: int, plan: TapPlan) -> torch.Tensor:
    """The pixels that kernel tap ``(i, j)`` multiplies, of a channels-last ``(N, H, W, C)`` tensor:
    ``(N, H_out, W_out, C)``."""
    (sh, sw), (dh, dw), (out_h, out_w) = plan.stride, plan.dilation, plan.out_hw
    return x_nhwc[:, i * dh: i * dh + sh * (out_h - 1) + 1: sh, j * dw: j * dw + sw * (out_w - 1) + 1: sw]


def _padded_channels_last(x: torch.Tensor, padding: list[int]) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` zero-padded by ``[left, right, top, bottom]`` as an ``(N, H_p, W_p, C)`` tensor: the
    padding and the change of layout in one copy."""
    n, channels, height, width = x.shape
    left, right, top, bottom = padding
    out = x.new_zeros((n, height + top + bottom, width + left + right, channels))
    out[:, top:top + height, left:left + width].copy_(x.permute(0, 2, 3, 1))
    return out


def _forward_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, plan: TapPlan,
                           padding: list[int]) -> torch.Tensor:
    """The forward on a padded ``(N, H, W, C)`` copy of ``x``, each tap's multiply-add along contiguous channels;
    the result copied back to NCHW."""
    n, channels = x.shape[0], x.shape[1]
    kh, kw = plan.kernel
    x_nhwc = _padded_channels_last(x, padding)
    taps = weight.reshape(channels, kh * kw).t().contiguous()  # (kh*kw, C): tap k's weight for every channel
    out = x.new_empty((n, plan.out_hw[0], plan.out_hw[1], channels))
    for i in range(kh):
        for j in range(kw):
            tap = _nhwc_tap(x_nhwc, i, j, plan)
            if i == 0 and j == 0:
                torch.mul(tap, taps[0], out=out)
            else:
                out.addcmul_(tap, taps[i * kw + j])
    if bias is not None:
        out.add_(bias)
    return out.permute(0, 3, 1, 2).contiguous()


def _backward_channels_last(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, plan: TapPlan,
                            padding: list[int], need_x: bool, need_w: bool
                            ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Backward of :func:`_forward_channels_last` on channels-last copies: ``(dx, dW)`` (NCHW of the unpadded
    input and ``(C, 1, kh, kw)``), each only if asked for."""
    n, channels, height, width = x.shape
    left, right, top, bottom = padding
    kh, kw = plan.kernel
    grad_nhwc = grad.permute(0, 2, 3, 1).contiguous()
    taps = weight.reshape(channels, kh * kw).t().contiguous()
    dx_nhwc = x.new_zeros((n, height + top + bottom, width + left + right, channels)) if need_x else None
    x_nhwc = _padded_channels_last(x, padding) if need_w else None
    tap_sums: list[torch.Tensor] = []
    for i in range(kh):
        for j in range(kw):
            if dx_nhwc is not None:
                _nhwc_tap(dx_nhwc, i, j, plan).addcmul_(grad_nhwc, taps[i * kw + j])
            if x_nhwc is not None:
                tap_sums.append((grad_nhwc * _nhwc_tap(x_nhwc, i, j, plan)).sum(dim=(0, 1, 2)))
    dx = None if dx_nhwc is None else dx_nhwc[:, top:top + height, left:left + width].permute(0, 3, 1, 2).contiguous()
    dw = _weight_grad(tap_sums, weight) if need_w else None
    return dx, dw
