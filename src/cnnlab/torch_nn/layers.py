"""``Linear`` and ``Conv2d``: drop-in replacements for ``torch.nn.Linear`` / ``torch.nn.Conv2d``; and
``Residual``, the skip connection torch.nn lacks (the torch twin of :class:`cnnlab.numpy_nn.Residual`).

Same constructor, parameter names and shapes, default initialisation (the same init calls in the same order, so
the same values under the same seed), ``extra_repr`` and ``state_dict`` keys, so weights load in both directions.
The forward passes are :mod:`cnnlab.torch_nn.functional` (tensor operations only); autograd provides the backward.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import init

from cnnlab.geometry import Conv2dSpec, ConvArguments
from cnnlab.torch_nn.functional import CONV_ALGORITHMS, conv2d, linear


def _reset(weight: nn.Parameter, bias: nn.Parameter | None) -> None:
    """torch's default for Linear and Conv: weight U(+-1/sqrt(fan_in)) via kaiming_uniform_(a=sqrt(5)), same bias."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = math.prod(weight.shape[1:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(nn.Module):
    """Fully connected layer ``y = x W^T + b`` (seed equation 2) on inputs ``(*, in_features)``.

    ``weight``: ``(out_features, in_features)``, ``bias``: ``(out_features,)``, both ``U(-1/sqrt(in), 1/sqrt(in))``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: torch.dtype | None = None) -> None:
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty((out_features, in_features), **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(ConvArguments, nn.Module):
    """2-D cross-correlation over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``) inputs, like ``nn.Conv2d``.

    ``weight``: ``(out_channels, in_channels / groups, kH, kW)``, ``bias``: ``(out_channels,)``, both
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = in_channels / groups * kH * kW``. Output size per spatial
    dimension ``floor((I + 2P - D*(K-1) - 1) / S) + 1``. ``padding`` is an int, a pair, ``'valid'`` or ``'same'``;
    ``padding_mode`` one of ``'zeros'``, ``'reflect'``, ``'replicate'``, ``'circular'``.

    ``algorithm`` (not in torch): ``'im2col'`` (default, vectorised) or ``'naive'`` (a loop over output positions,
    the reference); see :mod:`cnnlab.torch_nn.functional`. Bad arguments raise ``ValueError`` (``TypeError`` for
    non-integers) when constructed, bad inputs ``RuntimeError`` when called, as torch does.
    """

    spec: Conv2dSpec
    transposed = False
    output_padding = (0, 0)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: str | int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: torch.dtype | None = None, algorithm: str = "im2col") -> None:
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        spec = Conv2dSpec.from_args(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                                    padding_mode)
        if algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {list(CONV_ALGORITHMS)}, but got algorithm={algorithm!r}")
        self.spec = spec
        self.algorithm = algorithm
        self.weight = nn.Parameter(torch.empty((out_channels, in_channels // groups, *spec.kernel_size), **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, self.spec, self.algorithm)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        if self.algorithm != "im2col":
            s += f", algorithm={self.algorithm}"
        return s


class Residual(nn.Module):
    """A skip connection: ``y = block(x) + shortcut(x)``, ``shortcut`` the identity when it is ``None``.

    ``torch.nn`` has no such module (torchvision writes one per block class); this one makes a ResNet stage
    expressible as a plain module tree, with the sub-modules ``block`` and ``shortcut`` named as in
    :class:`cnnlab.numpy_nn.Residual`, so ``state_dict`` keys agree across engines. Autograd provides the backward
    pass (the sum sends dL/dy to both branches).
    """

    def __init__(self, block: nn.Module, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.block = block
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        if out.shape != skip.shape:
            what = "the input" if self.shortcut is None else "the shortcut's output"
            raise RuntimeError(f"Residual: the block's output {tuple(out.shape)} and {what} {tuple(skip.shape)} "
                               f"cannot be summed; where the block changes channels or size, give a shortcut that "
                               f"does the same (e.g. a strided 1x1 Conv2d and a BatchNorm2d)")
        return out + skip
