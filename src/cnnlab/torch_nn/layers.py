"""``Linear`` and ``Conv2d``: drop-in replacements for ``torch.nn.Linear`` / ``torch.nn.Conv2d``; and
``Residual``, the skip connection torch.nn lacks (the torch twin of :class:`cnnlab.numpy_nn.Residual`).

**They subclass** ``nn.Linear`` / ``nn.Conv2d`` and override only the computation (``Linear.forward``,
``Conv2d._conv_forward``, the hook torch's own subclasses use), which becomes :mod:`cnnlab.torch_nn.functional`
(tensor operations only; the fast convolution has a hand-written backward). Why subclass rather than mirror the
attributes: model code and tooling find layers by type -- weight-init loops (``isinstance(m, nn.Conv2d)``), BN
fusion, pruning, summaries, FX passes -- and a look-alike class is silently skipped by all of them. Subclassing
gives, from torch itself, the same constructor, parameters, default initialisation (same values under the same
seed), ``extra_repr``, ``state_dict`` keys, ``_conv_forward`` and attributes; only the arithmetic is ours.

As in torch, the geometry is read at call time: kernel size and channels from the actual ``weight`` (so replacing
``.weight`` by one of another shape computes what ``nn.Conv2d`` would, or fails the same way), stride, padding,
dilation and groups from the attributes. What differs from torch on purpose: arguments torch only rejects on the
first call (kernel size 0, negative padding, ...) raise ``ValueError`` at construction, and so do bad assignments
(``conv.stride = 0``); assigned geometry is normalised (``conv.padding = 1`` reads back ``(1, 1)``); and ``Conv2d``
takes an extra ``algorithm`` (``'im2col'``, the default, or ``'naive'``, the reference).

Toolchain: scriptable (``torch.jit.script``), traceable (``torch.jit.trace``, ``torch.fx.symbolic_trace`` -- the
functional calls are FX leaves), exportable (``torch.onnx.export``, both exporters), ``torch.compile`` (fullgraph)
and ``torch.func.vmap``/``grad`` work, and so do batched output gradients (``torch.autograd.grad(...,
is_grads_batched=True)``, ``torch.autograd.functional.jacobian(..., vectorize=True)``), double backward
(``create_graph=True``) and forward-mode AD (``torch.autograd.forward_ad``); scripted, traced and compiled graphs
(and batched output gradients) use the plain-ops form of the algorithm, whose backward autograd derives (see
:mod:`cnnlab.torch_nn.conv_graph`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnlab.geometry import Conv2dSpec
from cnnlab.torch_nn.functional import CONV_ALGORITHMS, conv2d_padded, linear

# The functional calls are leaves of torch.fx graphs: their argument checks branch on shapes.
torch.fx.wrap("conv2d_padded")
torch.fx.wrap("linear")


class Linear(nn.Linear):
    """Fully connected layer ``y = x W^T + b`` (seed equation 2) on inputs ``(*, in_features)``: ``nn.Linear`` with
    the product computed by :func:`cnnlab.torch_nn.functional.linear`.

    ``weight``: ``(out_features, in_features)``, ``bias``: ``(out_features,)``, both ``U(-1/sqrt(in), 1/sqrt(in))``.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return linear(input, self.weight, self.bias)


_GEOMETRY = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")


class Conv2d(nn.Conv2d):
    """2-D cross-correlation over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``) inputs: ``nn.Conv2d`` with the
    convolution computed by :func:`cnnlab.torch_nn.functional.conv2d_padded`.

    ``weight``: ``(out_channels, in_channels / groups, kH, kW)``, ``bias``: ``(out_channels,)``, both
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = in_channels / groups * kH * kW``. Output size per spatial
    dimension ``floor((I + 2P - D*(K-1) - 1) / S) + 1``. ``padding`` is an int, a pair, ``'valid'`` or ``'same'``;
    ``padding_mode`` one of ``'zeros'``, ``'reflect'``, ``'replicate'``, ``'circular'``.

    ``algorithm`` (not in torch): ``'im2col'`` (default, vectorised) or ``'naive'`` (a loop over output positions,
    the reference). Bad arguments raise ``ValueError`` (``TypeError`` for non-integers) when constructed, bad inputs
    ``RuntimeError`` when called, as torch does.
    """

    __constants__ = [*nn.Conv2d.__constants__, "algorithm"]  # noqa: RUF012  (TorchScript reads this list)
    algorithm: str

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: str | int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: torch.dtype | None = None, algorithm: str = "im2col") -> None:
        # Validate everything (including what torch only rejects on the first call) before torch builds the layer.
        Conv2dSpec.from_args(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode)
        if algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {list(CONV_ALGORITHMS)}, but got algorithm={algorithm!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)  # type: ignore[arg-type]  # (validated above)
        self.algorithm = algorithm
        self._geometry_checked = True

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a geometry attribute (``conv.padding = 2``) validates and normalises it like the constructor
        (``2 -> (2, 2)``, ``ValueError`` for ``stride = 0``) and re-derives the padding of non-zero modes, which
        torch keeps from construction time; the next call computes with the new value."""
        if name in _GEOMETRY and self.__dict__.get("_geometry_checked", False):
            arguments = {attribute: getattr(self, attribute) for attribute in _GEOMETRY}
            spec = Conv2dSpec.from_args(**{**arguments, name: value})
            value = getattr(spec, name)
            (top, bottom), (left, right) = spec.padding_sides
            self.__dict__["_reversed_padding_repeated_twice"] = [left, right, top, bottom]
        super().__setattr__(name, value)

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode != "zeros":  # torch pads by the sides computed from the constructor's kernel
            return self._convolve(input, weight, bias, [int(p) for p in self._reversed_padding_repeated_twice])
        if isinstance(self.padding, str):  # 'same' / 'valid': resolved with the weight's kernel at call time
            return self._convolve(input, weight, bias, self.padding)
        ph, pw = self.padding[0], self.padding[1]
        return self._convolve(input, weight, bias, [pw, pw, ph, ph])

    def _convolve(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  padding: str | list[int]) -> torch.Tensor:
        return conv2d_padded(input, weight, bias, [self.stride[0], self.stride[1]], padding,
                             [self.dilation[0], self.dilation[1]], self.groups, self.padding_mode, self.algorithm)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.algorithm == "im2col" else f"{text}, algorithm={self.algorithm}"


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
