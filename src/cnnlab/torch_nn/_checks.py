"""Input validation of the own layers: the cases ``torch.nn`` rejects, as ``RuntimeError`` with clearer messages.

Everything here is TorchScript-compatible (a scripted model runs these checks too); the likely-cause hints of
:func:`cnnlab.geometry.channel_hint` are added in eager mode only.
"""

from __future__ import annotations

import torch

from cnnlab.geometry import channel_hint


def shape_text(shape: list[int]) -> str:
    """``[4, 3, 32, 32]`` as ``(4, 3, 32, 32)`` (``(5,)`` for one axis), in eager and scripted code alike."""
    if len(shape) == 1:
        return "(" + str(shape[0]) + ",)"
    return "(" + ", ".join([str(s) for s in shape]) + ")"


def check_same_type(layer: str, x: torch.Tensor, weight: torch.Tensor) -> None:
    """``RuntimeError`` (torch's type) when ``x`` cannot meet ``weight``: another dtype or another device."""
    if x.dtype != weight.dtype:
        if x.is_floating_point():
            fix = f"convert the input (x.to({weight.dtype})) or the layer (layer.to({x.dtype}))"
        else:
            fix = "integer pixels (e.g. uint8)? convert them first, e.g. x.float() / 255"
        raise RuntimeError(f"{layer}: input dtype {x.dtype} does not match the parameters' dtype {weight.dtype}; "
                           f"{fix}.")
    if x.device != weight.device:
        raise RuntimeError(f"{layer}: input is on {x.device} but the parameters are on {weight.device}; move one of "
                           f"them (x.to('{weight.device}') or model.to('{x.device}')).")


def check_linear_input(x: torch.Tensor, weight: torch.Tensor) -> None:
    """``x`` must be ``(*, in_features)`` with ``in_features = weight.shape[1]``, of the weight's dtype and device."""
    in_features = weight.shape[1]
    if x.dim() == 0 or x.shape[-1] != in_features:
        hint = ""
        if x.dim() > 2:
            size = 1
            for s in x.shape[1:]:
                size *= s
            if size == in_features:
                hint = " Images or feature maps (N, C, H, W)? Flatten them first: nn.Flatten() or x.flatten(1)."
        raise RuntimeError(f"Linear: expected input of shape (*, {in_features}) (last axis = in_features), got shape "
                           f"{shape_text(list(x.shape))}.{hint}")
    check_same_type("Linear", x, weight)


def check_conv_input(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> None:
    """``x`` must be ``(N, C, H, W)`` or ``(C, H, W)`` with ``C = weight.shape[1] * groups``; the geometry comes
    from the weight itself (as in torch), so replacing ``.weight`` by one of another shape is checked here too."""
    if weight.dim() != 4:
        raise RuntimeError(f"Conv2d: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got shape "
                           f"{shape_text(list(weight.shape))}.")
    out_channels = weight.shape[0]
    if out_channels % groups != 0:
        raise RuntimeError(f"Conv2d: the weight's {out_channels} output channels are not divisible by groups={groups}.")
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != out_channels):
        raise RuntimeError(f"Conv2d: expected a bias of shape ({out_channels},) for a weight of shape "
                           f"{shape_text(list(weight.shape))}, got {shape_text(list(bias.shape))}.")
    if x.dim() != 3 and x.dim() != 4:
        hint = ""
        if x.dim() == 2:
            hint = " A single grayscale image (H, W)? Add the channel axis: x[None] (and x[None, None] for a batch)."
        elif x.dim() == 5:
            hint = " A video or stacked batches? Merge the leading axes into N: x.flatten(0, 1)."
        raise RuntimeError(f"Conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                           f"{shape_text(list(x.shape))} ({x.dim()}-D).{hint}")
    channels = weight.shape[1] * groups
    received = x.shape[-3]
    if received != channels:
        hint = ""
        if not torch.jit.is_scripting():
            hint = channel_hint(tuple(x.shape) if x.dim() == 4 else (1, *x.shape), channels)
        plural = "s" if received != 1 else ""
        raise RuntimeError(f"Conv2d: expected input with {channels} channels, (N, {channels}, H, W) or "
                           f"({channels}, H, W), got shape {shape_text(list(x.shape))} with {received} "
                           f"channel{plural}.{hint}")
    check_same_type("Conv2d", x, weight)


def check_kernel_fits(padded: list[int], kernel: list[int], dilation: list[int]) -> None:
    """The dilated kernel ``(k - 1) * d + 1`` must fit into the padded input ``padded = [H, W]``."""
    kh = (kernel[0] - 1) * dilation[0] + 1
    kw = (kernel[1] - 1) * dilation[1] + 1
    if kh > padded[0] or kw > padded[1]:
        raise RuntimeError(f"Conv2d: the padded input is {padded[0]} x {padded[1]} (H x W) but the kernel covers "
                           f"{kh} x {kw} pixels (kernel {shape_text(kernel)}, dilation {shape_text(dilation)}); the "
                           f"kernel can't be larger than the input. Use a larger input, more padding or a smaller "
                           f"kernel.")
