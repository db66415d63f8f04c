"""Linear and 2-D convolution written with plain tensor operations, with ``torch.nn.functional``'s behaviour.

No ``torch.nn.functional.linear`` / ``conv*`` / ``unfold`` and no ``nn.Linear`` / ``nn.Conv*`` computation: the
products are ``addmm`` / ``matmul``, the windows sliding-window views (``Tensor.unfold``); ``F.pad`` applies the
padding of every mode (torch defines the non-zero modes as "pad, then convolve without padding").

What a drop-in needs besides the numbers, done here once for both algorithms:

- **layout**: the output is contiguous NCHW, or channels-last when the input or the weight is channels-last
  (torch's rule: ``suggest_memory_format``), so ``.view`` flattening, Dropout masks and every other
  memory-order-dependent operation behave as after ``nn.Conv2d``;
- **autocast**: inside ``torch.autocast`` the input and parameters are cast to the autocast dtype (float16 /
  bfloat16; float64 stays) and the result has that dtype, as for ``nn.Conv2d`` / ``nn.Linear``;
- **geometry from the weight** at call time (kernel size, channels, groups check), so weight surgery is checked;
- everything called from a module's forward is TorchScript-compatible.

Convolution algorithms (the same numbers up to float rounding): ``"im2col"`` (default, :mod:`.conv_im2col`) and
``"naive"`` (the assignment's equation 4, one output position at a time, :mod:`.conv_naive`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnlab.geometry import IntOrSeq, resolve_padding, to_pair
from cnnlab.torch_nn._checks import check_conv_input, check_kernel_fits, check_linear_input
from cnnlab.torch_nn.conv_depthwise import depthwise_conv2d, is_depthwise
from cnnlab.torch_nn.conv_graph import output_size
from cnnlab.torch_nn.conv_im2col import conv2d_im2col, runs_eagerly
from cnnlab.torch_nn.conv_naive import conv2d_naive

CONV_ALGORITHMS = ("im2col", "naive")

#: ``padding_mode`` -> ``F.pad`` mode.
PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _autocast_dtype(t: torch.Tensor) -> torch.dtype | None:
    """The dtype ``torch.autocast`` computes convolutions and linear layers in for ``t``, ``None`` outside it (or
    for float64, which autocast leaves alone)."""
    device = t.device.type
    if t.dtype == torch.float64 or not t.is_floating_point() or not torch.amp.is_autocast_available(device):
        return None
    if not torch.is_autocast_enabled(device):
        return None
    return torch.get_autocast_dtype(device)


def _cast(t: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if t is None or not t.is_floating_point() or t.dtype == torch.float64 else t.to(dtype)


def linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``y = x W^T + b`` over the last axis of ``input`` (``(*, in_features)`` -> ``(*, out_features)``)."""
    if not torch.jit.is_scripting():
        dtype = _autocast_dtype(input)
        if dtype is not None:
            input, weight, bias = input.to(dtype), weight.to(dtype), _cast(bias, dtype)
    if not torch.jit.is_tracing():  # (when tracing, shapes are graph values: a trace is for one input shape)
        check_linear_input(input, weight)
    if input.dim() == 2 and bias is not None:
        return torch.addmm(bias, input, weight.t())
    out = torch.matmul(input, weight.t())
    return out if bias is None else out + bias


def suggests_channels_last(t: torch.Tensor) -> bool:
    """Whether torch would treat the 4-D tensor ``t`` as channels-last (``suggest_memory_format``): its strides
    order the axes as (N, H, W, C), with torch's tie-breaks for size-1 axes (ambiguous cases are NCHW)."""
    if t.dim() != 4:
        return False
    sizes, strides = t.shape, t.stride()
    if strides[1] == 0:
        return False
    minimum = 0
    for d in [1, 3, 2, 0]:
        if sizes[d] == 0 or strides[d] < minimum:
            return False
        if d == 0 and minimum == strides[1]:
            return False
        minimum = strides[d]
        if sizes[d] > 1:
            minimum *= sizes[d]
    return True


def conv2d_padded(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
                  padding: str | list[int], dilation: list[int], groups: int, padding_mode: str = "zeros",
                  algorithm: str = "im2col") -> torch.Tensor:
    """The convolution with normalised arguments (what ``Conv2d`` calls; TorchScript-compatible).

    ``input``: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; ``weight``: ``(O, C / groups, kh, kw)``; ``stride`` and
    ``dilation``: ``[sH, sW]``, ``[dH, dW]``; ``padding``: ``'valid'``, ``'same'`` (resolved with the weight's
    kernel) or per side in ``F.pad``'s order ``[left, right, top, bottom]``, applied with ``padding_mode``
    (``zeros``, ``reflect``, ``replicate``, ``circular``). Returns ``(N, O, H_out, W_out)`` laid out like
    ``nn.Conv2d``'s result. ``RuntimeError`` for inputs ``nn.Conv2d``
    rejects, naming the likely cause.
    """
    dtype: torch.dtype | None = None
    if not torch.jit.is_scripting():
        dtype = _autocast_dtype(input)
        if dtype is not None:
            input, weight, bias = input.to(dtype), weight.to(dtype), _cast(bias, dtype)
    if algorithm != "im2col" and algorithm != "naive":
        raise ValueError(f"unknown conv algorithm '{algorithm}'; choose one of im2col, naive")
    # When tracing, shapes are graph values: the checks and the layout choice (NCHW) are for one input shape.
    tracing = torch.jit.is_tracing()
    if not tracing:
        check_conv_input(input, weight, bias, groups)
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    channels_last = not tracing and (suggests_channels_last(x) or suggests_channels_last(weight))
    if isinstance(padding, str):
        padding = padding_sides(padding, [weight.shape[2], weight.shape[3]], dilation)
    if padding_mode == "zeros" and algorithm == "im2col" and not tracing:
        x, weight, padding = skip_padding_only_taps(x, weight, padding, stride, dilation)
    depthwise = _eager_depthwise(x, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm)
    if depthwise is not None:
        out = depthwise
    else:
        if padding[0] > 0 or padding[1] > 0 or padding[2] > 0 or padding[3] > 0:
            mode = "constant"
            if padding_mode != "zeros":
                mode = padding_mode
            x = F.pad(x, padding, mode=mode)
            if dtype is not None:  # autocast runs some padding modes in float32
                x = x.to(dtype)
        if not tracing:
            check_kernel_fits([x.shape[2], x.shape[3]], [weight.shape[2], weight.shape[3]], dilation)
        if algorithm == "naive":
            out = conv2d_naive(x, weight, stride, dilation, groups)
            if bias is not None:
                out = out + bias.reshape(1, -1, 1, 1)
        else:
            out = conv2d_im2col(x, weight, bias, stride, dilation, groups)
    if channels_last:
        out = out.clone(memory_format=torch.channels_last)  # (clone: the strides torch gives 1 x 1 maps too)
    return out.squeeze(0) if unbatched else out


def _eager_depthwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
                     padding: list[int], dilation: list[int], groups: int, padding_mode: str,
                     algorithm: str) -> torch.Tensor | None:
    """The eager depthwise convolution with zero padding, which pads chunk by chunk itself (no padded copy of the
    whole batch: :mod:`cnnlab.torch_nn.conv_depthwise`); ``None`` where it does not apply (other layers, padding
    modes or algorithms; scripting, tracing, compiling, ``torch.func`` transforms)."""
    if torch.jit.is_scripting():
        return None
    if padding_mode != "zeros" or algorithm != "im2col" or not is_depthwise(weight, groups) or not runs_eagerly():
        return None
    check_kernel_fits([x.shape[2] + padding[2] + padding[3], x.shape[3] + padding[0] + padding[1]],
                      [weight.shape[2], weight.shape[3]], dilation)
    return depthwise_conv2d(x, weight, bias, (stride[0], stride[1]), padding, (dilation[0], dilation[1]))


def _live_taps(size: int, before: int, after: int, kernel: int, stride: int, dilation: int) -> list[int]:
    """Along one axis of ``size`` pixels zero-padded by ``before``/``after``: ``[first, last, before', after']``,
    the kernel taps that read at least one real pixel for some output and the padding (negative: a crop) that the
    kernel cut to those taps needs for the same outputs. Tap ``p`` reads pixels ``p*D - before + i*S``,
    ``0 <= i < out``; one whose every read lies in the padding only ever multiplies zeros."""
    out = output_size(size + before + after, kernel, stride, dilation)
    first, last = 0, kernel - 1
    while first < last and first * dilation - before + (out - 1) * stride < 0:
        first += 1
    while last > first and last * dilation - before > size - 1:
        last -= 1
    if first * dilation - before + (out - 1) * stride < 0 or last * dilation - before > size - 1:
        return [0, kernel - 1, before, after]  # no tap reads a pixel (every output is the bias): nothing to cut
    new_before = before - first * dilation
    extent = (out - 1) * stride + (last - first) * dilation + 1
    return [first, last, new_before, extent - size - new_before]


def skip_padding_only_taps(x: torch.Tensor, weight: torch.Tensor, padding: list[int], stride: list[int],
                           dilation: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The same zero-padded convolution with the kernel taps that read only padding left out.

    A large dilation on a small map -- DeepLab's ASPP at rates 12-36 on an 8x8 map, padding = rate -- reads mostly
    zeros: at rate 36 only the centre tap of the 3x3 kernel ever sees a pixel, so the convolution is a 1x1 one, and
    padding the map to 80x80 and building columns for all nine taps costs 5x torch's time. The taps left out
    contribute zero to every output and get zero gradient (autograd through the weight slice), as in torch.
    ``padding`` is ``[left, right, top, bottom]``; returns ``(x, weight, padding)`` unchanged when every tap reads
    pixels (always without padding) or the kernel does not fit (the caller's checks then raise as usual)."""
    height, width = x.shape[2], x.shape[3]
    kh, kw = weight.shape[2], weight.shape[3]
    if (max(padding) == 0 or output_size(height + padding[2] + padding[3], kh, stride[0], dilation[0]) < 1
            or output_size(width + padding[0] + padding[1], kw, stride[1], dilation[1]) < 1):
        return x, weight, padding
    rows = _live_taps(height, padding[2], padding[3], kh, stride[0], dilation[0])
    cols = _live_taps(width, padding[0], padding[1], kw, stride[1], dilation[1])
    if rows[0] == 0 and rows[1] == kh - 1 and cols[0] == 0 and cols[1] == kw - 1:
        return x, weight, padding
    weight = weight[:, :, rows[0]:rows[1] + 1, cols[0]:cols[1] + 1]
    top, bottom, left, right = rows[2], rows[3], cols[2], cols[3]
    x = x[:, :, max(0, -top):height - max(0, -bottom), max(0, -left):width - max(0, -right)]  # the crops
    return x, weight, [max(0, left), max(0, right), max(0, top), max(0, bottom)]


def padding_sides(padding: str | tuple[int, int], kernel: list[int], dilation: list[int]) -> list[int]:
    """``padding`` (``'valid'``, ``'same'`` or ``[pH, pW]`` per side) as ``[left, right, top, bottom]``; ``'same'``
    puts the odd pixel of an odd total at the end, like torch (TorchScript-compatible)."""
    if isinstance(padding, str):
        if padding == "valid":
            return [0, 0, 0, 0]
        total_h = dilation[0] * (kernel[0] - 1)
        total_w = dilation[1] * (kernel[1] - 1)
        return [total_w // 2, total_w - total_w // 2, total_h // 2, total_h - total_h // 2]
    return [padding[1], padding[1], padding[0], padding[0]]


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntOrSeq = 1,
           padding: str | IntOrSeq = 0, dilation: IntOrSeq = 1, groups: int = 1, padding_mode: str = "zeros",
           algorithm: str = "im2col") -> torch.Tensor:
    """2-D cross-correlation as ``torch.nn.functional.conv2d`` computes it (same arguments), plus ``padding_mode``
    (``nn.Conv2d``'s) and ``algorithm`` (one of :data:`CONV_ALGORITHMS`).

    ``input`` ``(N, C, H, W)`` or ``(C, H, W)``, ``weight`` ``(O, C / groups, kh, kw)``, ``bias`` ``(O,)``;
    output size per dimension ``floor((I + 2P - D*(K-1) - 1) / S) + 1``. ``ValueError`` for bad arguments,
    ``RuntimeError`` for inputs torch rejects.
    """
    if algorithm not in CONV_ALGORITHMS:
        raise ValueError(f"unknown conv algorithm {algorithm!r}; choose one of {', '.join(CONV_ALGORITHMS)}")
    if padding_mode not in PAD_MODES:
        raise ValueError(f"padding_mode must be one of {list(PAD_MODES)}, but got padding_mode={padding_mode!r}")
    if weight.dim() != 4:
        raise RuntimeError(f"conv2d: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape "
                           f"{tuple(weight.shape)}")
    kernel = (int(weight.shape[2]), int(weight.shape[3]))
    stride_pair = to_pair(stride, "stride")
    dilation_pair = to_pair(dilation, "dilation")
    (top, bottom), (left, right) = resolve_padding(padding, kernel, dilation_pair, stride_pair)
    return conv2d_padded(input, weight, bias, list(stride_pair), [left, right, top, bottom], list(dilation_pair),
                         groups, padding_mode, algorithm)
