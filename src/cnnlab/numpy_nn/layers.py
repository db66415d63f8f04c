"""Layers of the NumPy engine with torch's constructor signatures, parameter names and shapes.

Each layer validates its input (clear errors naming the layer, what was expected and what arrived), computes its
forward pass from the equation, and its backward pass by hand (the array kernels are in
:mod:`cnnlab.numpy_nn.kernels`). Every ``backward(grad_out, *, need_input_grad=True)`` adds dL/dparameter to the
parameters' ``.grad`` and returns dL/dinput, or ``None`` when ``need_input_grad`` is false (then the input gradient
is not computed). Parametrised layers compute in their parameters' dtype (float32 by default; ``Module.double()``
for float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.geometry import (
    Conv1dSpec,
    Conv2dSpec,
    ConvArguments,
    ConvSpec,
    Pair,
    check_batch,
    check_image_batch,
    conv_output_size,
    to_pair,
)
from cnnlab.numpy_nn import init
from cnnlab.numpy_nn._checks import check_float, check_grad, no_forward_error
from cnnlab.numpy_nn.kernels import pool
from cnnlab.numpy_nn.kernels.conv import DEFAULT_CONV_ALGORITHM, conv_algorithm
from cnnlab.numpy_nn.kernels.conv_contract import ConvBackward, ConvCache
from cnnlab.numpy_nn.kernels.pad import Padding2d, check_padding_fits, pad2d, pad2d_backward
from cnnlab.numpy_nn.module import Module, Parameter

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "Conv1d", "Conv2d", "Dropout", "Flatten", "Identity",
           "Linear", "MaxPool2d", "ReLU"]


class Linear(Module):
    """Fully connected layer ``y = x @ W.T + b`` on inputs ``(*, in_features)``.

    ``weight`` ``(out_features, in_features)``, ``bias`` ``(out_features,)``, both initialised like torch:
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Linear: {name} must be a positive integer, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.zeros((self.out_features, self.in_features)), dtype=dtype)
        if bias:
            self.bias = Parameter(np.zeros(self.out_features), dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self._cache: tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's default initialisation (from the engine's generator, see :func:`init.manual_seed`)."""
        init.default_weight_and_bias_(self.weight.data, None if self.bias is None else self.bias.data)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            hint = ""
            if x.ndim >= 3 and int(np.prod(x.shape[1:])) == self.in_features:
                hint = " Images or feature maps? Put a Flatten() before the Linear layer."
            elif x.ndim >= 1:
                hint = " Does the previous layer's output size match in_features?"
            raise ValueError(f"{self._label()}: expected input (N, {self.in_features}) with {self.in_features} "
                             f"features in the last dimension, got shape {x.shape}.{hint}")
        weight = self.weight.data
        x2 = x.reshape(-1, self.in_features).astype(weight.dtype, copy=False)
        y = x2 @ weight.T
        if self.bias is not None:
            y += self.bias.data
        self._cache = (x2, weight.copy(), x.shape)
        return y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Add ``dL/dW = dy^T @ x`` and ``dL/db = sum of dy`` to the gradients; return ``dL/dx = dy @ W``
        ``(*, in_features)`` (``None`` if ``need_input_grad`` is false)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        x2, weight, in_shape = self._cache
        grad = check_grad(self._label(), grad_out, (*in_shape[:-1], self.out_features), weight.dtype)
        grad2 = grad.reshape(-1, self.out_features)
        self.weight.grad += grad2.T @ x2
        if self.bias is not None:
            self.bias.grad += grad2.sum(axis=0)
        if not need_input_grad:
            return None
        return (grad2 @ weight).reshape(in_shape)


class _ConvNd(ConvArguments, Module):
    """The convolution layer for any number of spatial dimensions; :class:`Conv1d` and :class:`Conv2d` only name
    theirs (``_spec_type``). Geometry and validation are :class:`cnnlab.geometry.ConvSpec`'s; the computation is
    the 2-D kernels': a 1-D input ``(N, C, L)`` is the 2-D image batch ``(N, C, 1, L)`` and a 1-D kernel ``(k,)`` the
    2-D kernel ``(1, k)``, so every algorithm (and its tests against the reference) serves both."""

    _spec_type: type[ConvSpec]

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = 1, padding: str | int | tuple[int, ...] = 0,
                 dilation: int | tuple[int, ...] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", algorithm: str = DEFAULT_CONV_ALGORITHM,
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        try:
            spec = self._spec_type.from_args(in_channels, out_channels, kernel_size, stride, padding, dilation,
                                             groups, padding_mode)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: {error}") from None
        self.spec = spec
        self.algorithm = algorithm
        self.weight = Parameter(np.zeros((spec.out_channels, spec.in_channels // spec.groups, *spec.kernel_size)),
                                dtype=dtype)
        if bias:
            self.bias = Parameter(np.zeros(spec.out_channels), dtype=dtype)
        else:
            self.register_parameter("bias", None)
        #: (the backward of the algorithm that ran forward, its cache, input shape, output shape, padding sides)
        self._cache: tuple[ConvBackward, ConvCache, tuple[int, ...], tuple[int, ...], Padding2d] | None = None
        self.reset_parameters()

    @property
    def algorithm(self) -> str:
        return self._algorithm

    @algorithm.setter
    def algorithm(self, value: str) -> None:
        conv_algorithm(value, type(self).__name__)  # raises ValueError naming the choices
        object.__setattr__(self, "_algorithm", value)

    def reset_parameters(self) -> None:
        """Torch's default initialisation (from the engine's generator, see :func:`init.manual_seed`)."""
        init.default_weight_and_bias_(self.weight.data, None if self.bias is None else self.bias.data)

    def extra_repr(self) -> str:
        ones, zeros = (1,) * self.spec.ndim, (0,) * self.spec.ndim
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in (0, zeros):
            text += f", padding={self.padding!r}"
        if self.dilation != ones:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        if self.algorithm != DEFAULT_CONV_ALGORITHM:
            text += f", algorithm={self.algorithm!r}"
        return text

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(N, C_out, *spatial_out)`` for an input of ``input_shape``; raises ``ValueError`` when the kernel does
        not fit the padded input."""
        layer = self._label()
        check_batch(layer, input_shape, self.spec.ndim, self.in_channels)
        sizes = tuple(input_shape[2:])
        try:
            out = self.spec.output_size(*sizes)
        except ValueError:
            padded = tuple(size + before + after for size, (before, after) in zip(sizes, self.spec.padding_sides,
                                                                                 strict=True))
            covers = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))
            raise ValueError(
                f"{layer}: kernel {self.kernel_size} (dilation {self.dilation}) is larger than the padded input: "
                f"input {_by(sizes)} padded to {_by(padded)}, but the kernel covers {_by(covers)}"
            ) from None
        return (input_shape[0], self.out_channels, *out)

    def _lift(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape ``(A, B, *spatial)`` as the 2-D kernels see it: ``(A, B, 1, L)`` in 1-D, unchanged in 2-D."""
        return (*shape[:2], *(1,) * (2 - self.spec.ndim), *shape[2:])

    def _as_2d(self) -> tuple[Pair, Pair, Padding2d]:
        """Stride, dilation and padding sides of the equivalent 2-D convolution (a leading dimension of size 1)."""
        lead = 2 - self.spec.ndim
        return ((1,) * lead + self.spec.stride, (1,) * lead + self.spec.dilation,  # type: ignore[return-value]
                ((0, 0),) * lead + self.spec.padding_sides)

    def forward(self, x: Any) -> np.ndarray:
        layer = self._label()
        x = check_float(layer, x)
        out_shape = self.output_shape(x.shape)
        stride, dilation, sides = self._as_2d()
        x4 = x.reshape(self._lift(x.shape))
        check_padding_fits(layer, x4.shape[-2:], sides, self.padding_mode)
        weight = self.weight.data
        weight4 = weight.reshape(self._lift(weight.shape))
        xp = pad2d(x4.astype(weight.dtype, copy=False), sides, self.padding_mode)
        bias = None if self.bias is None else self.bias.data
        kernel = conv_algorithm(self.algorithm, layer)
        y, cache = kernel.forward(xp, weight4.copy(), bias, stride, dilation, self.groups)
        self._cache = (kernel.backward, cache, x.shape, out_shape, sides)
        return y.reshape(out_shape)

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Add dL/dW, dL/db to the gradients; return dL/dx (the input's shape), or ``None`` if ``need_input_grad``
        is false (the algorithm may then skip its most expensive part, e.g. for the first layer of a network)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        backward, cache, in_shape, out_shape, sides = self._cache
        grad = check_grad(self._label(), grad_out, out_shape, cache.weight.dtype)
        grad_xp, grad_w, grad_b = backward(grad.reshape(self._lift(out_shape)), cache, need_input_grad)
        self.weight.grad += grad_w.reshape(self.weight.shape)
        if self.bias is not None and grad_b is not None:
            self.bias.grad += grad_b
        if not need_input_grad:
            return None
        assert grad_xp is not None, "a conv algorithm must return dL/dxp when need_input_grad is true"
        return pad2d_backward(grad_xp, sides, self.padding_mode).reshape(in_shape)


def _by(sizes: tuple[int, ...]) -> str:
    return "x".join(map(str, sizes))


class Conv1d(_ConvNd):
    r"""1-D convolution (cross-correlation, as ``torch.nn.Conv1d``) over inputs ``(N, C_in, L)``.

    Output ``(N, C_out, L_out)`` with ``L_out = floor((L + 2P - D*(K-1) - 1) / S) + 1``. Arguments, parameter shapes
    (``weight`` ``(C_out, C_in/groups, k)``, ``bias`` ``(C_out,)``), initialisation and ``algorithm`` as
    :class:`Conv2d`, with one spatial dimension: ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an
    int or a 1-tuple, ``padding`` also ``'valid'`` or ``'same'``, every ``padding_mode`` of torch.
    """

    _spec_type = Conv1dSpec

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int],
                 stride: int | tuple[int] = 1, padding: str | int | tuple[int] = 0, dilation: int | tuple[int] = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 algorithm: str = DEFAULT_CONV_ALGORITHM, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, algorithm, dtype)


class Conv2d(_ConvNd):
    r"""2-D convolution (cross-correlation, as ``torch.nn.Conv2d``) over inputs ``(N, C_in, H, W)``.

    Output ``(N, C_out, H_out, W_out)`` with, per spatial dimension,
    ``H_out = floor((H + 2P - D*(K-1) - 1) / S) + 1`` (``P`` padding per side, ``D`` dilation, ``S`` stride).

    Arguments as torch: ``kernel_size``, ``stride``, ``padding``, ``dilation`` are an int or a pair;
    ``padding`` may also be ``'valid'`` (none) or ``'same'`` (output size = input size; stride 1 only);
    ``padding_mode`` is ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``; ``groups`` splits the
    channels into independent groups. ``weight`` has shape ``(C_out, C_in/groups, kh, kw)``, ``bias`` ``(C_out,)``,
    both ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = C_in/groups * kh * kw`` (torch's default).

    ``algorithm`` (not in torch; also settable later as an attribute), one of
    :data:`cnnlab.numpy_nn.CONV_ALGORITHMS`: ``'fast'`` (the default: chunked, cache-friendly im2col),
    ``'im2col'`` (the textbook algorithm: all windows as columns, one matrix product per group), ``'loops2'`` (two
    Python loops over the output positions) or ``'naive'`` (the equation's seven loops; a slow reference). All
    give the same numbers up to float rounding; see :mod:`cnnlab.numpy_nn.kernels.conv`.
    """

    _spec_type = Conv2dSpec

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: str | int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", algorithm: str = DEFAULT_CONV_ALGORITHM,
                 dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, algorithm, dtype)


class _Pool2d(Module):
    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None, padding: int |
                 tuple[int, int], dilation: int | tuple[int, int], ceil_mode: bool) -> None:
        super().__init__()
        name = type(self).__name__
        try:
            self.kernel_size = to_pair(kernel_size, "kernel_size")
            self.stride = self.kernel_size if stride is None else to_pair(stride, "stride")
            self.padding = to_pair(padding, "padding", minimum=0)
            self.dilation = to_pair(dilation, "dilation")
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: {error}") from None
        self.ceil_mode = bool(ceil_mode)
        if any(p > k // 2 for k, p in zip(self.kernel_size, self.padding, strict=True)):
            raise ValueError(f"{name}: padding should be at most half of the kernel size (as torch), got "
                             f"padding={self.padding} for kernel_size={self.kernel_size}")
        self._cache: Any = None

    def extra_repr(self) -> str:
        text = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        text += f", dilation={self.dilation}" if self.dilation != (1, 1) else ""
        return text + (", ceil_mode=True" if self.ceil_mode else "")

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dx ``(N, C, H, W)`` from dL/dy: each window's share (``_window_backward``), then unpadded;
        ``None`` if ``need_input_grad`` is false (a pooling layer has nothing else to compute)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        cache, out_shape, sides = self._cache
        grad = check_grad(self._label(), grad_out, out_shape, np.result_type(grad_out))
        if not need_input_grad:
            return None
        return pad2d_backward(self._window_backward(grad, cache), sides)

    def _output_hw(self, layer: str, shape: tuple[int, ...]) -> tuple[int, int]:
        check_image_batch(layer, shape)
        try:
            return conv_output_size(shape[-2:], self.kernel_size, self.stride, self.padding,  # type: ignore[return-value]
                                    self.dilation, ceil_mode=self.ceil_mode)
        except ValueError as error:
            raise ValueError(f"{layer}: window {self.kernel_size} does not fit the input {shape[-2]}x{shape[-1]} "
                             f"with padding {self.padding} ({error})") from None

    def _sides(self, hw: tuple[int, ...], out_hw: Pair) -> Padding2d:
        """Padding per side: ``padding`` everywhere, plus on the bottom/right what the last ``ceil_mode`` windows
        reach past it (those pixels are never counted: ``-inf`` for max, outside the divisor for average)."""
        sides = []
        for size, out, k, s, p, d in zip(hw, out_hw, self.kernel_size, self.stride, self.padding, self.dilation,
                                         strict=True):
            extra = max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
            sides.append((p, p + extra))
        return sides[0], sides[1]


class MaxPool2d(_Pool2d):
    """Max pooling over ``(N, C, H, W)`` (windows may overlap; padding is ``-inf``, as torch).

    ``stride`` defaults to ``kernel_size``. The gradient of each output goes to the first maximum of its window.
    A (dilated) window that lies entirely in the padding gives ``-inf`` and passes no gradient. ``ceil_mode=True``
    keeps a last, partial window (see :func:`cnnlab.geometry.conv_output_size`). ``return_indices=True`` returns
    ``(y, indices)``, ``indices`` the flat position ``row * W + col`` of each maximum in its input plane (as torch).
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

    def forward(self, x: Any) -> Any:
        layer = self._label()
        x = check_float(layer, x, finite=False)
        out_hw = self._output_hw(layer, x.shape)
        sides = self._sides(x.shape[-2:], out_hw)
        xp = pad2d(x, sides, "constant", value=-np.inf)
        y, cache = pool.max_pool2d(xp, self.kernel_size, self.stride, self.dilation)
        self._cache = (cache, y.shape, sides)
        if not self.return_indices:
            return y
        return y, self._indices(cache.saved, x.shape[-1])

    def _indices(self, where: np.ndarray, width: int) -> np.ndarray:
        """Flat input positions ``row * W + col`` of the maxima from their kernel positions ``where``."""
        (_, kw), (sh, sw), (dh, dw), (ph, pw) = self.kernel_size, self.stride, self.dilation, self.padding
        p, q = np.divmod(where.astype(np.int64), kw)
        ho, wo = where.shape[-2:]
        rows = np.arange(ho)[:, None] * sh + p * dh - ph
        cols = np.arange(wo)[None, :] * sw + q * dw - pw
        return rows * width + cols

    _window_backward = staticmethod(pool.max_pool2d_backward)


class AvgPool2d(_Pool2d):
    """Average pooling over ``(N, C, H, W)``; zero padding counted in the mean (``count_include_pad=True``, torch's
    default) unless ``count_include_pad=False``; ``divisor_override`` replaces the divisor. ``ceil_mode=True``
    keeps a last, partial window, whose mean (as torch's) is over its pixels inside the padded input only."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override <= 0):
            raise ValueError(f"AvgPool2d: divisor_override must be a positive int, got {divisor_override!r}")
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> np.ndarray:
        layer = self._label()
        x = check_float(layer, x, finite=False)
        out_hw = self._output_hw(layer, x.shape)
        sides = self._sides(x.shape[-2:], out_hw)
        xp = pad2d(x, sides)
        divisor: Any
        partial = (self.padding != (0, 0) and not self.count_include_pad) or sides[0][1] + sides[1][1] > sum(
            self.padding)  # some windows do not average kh*kw pixels
        if self.divisor_override is not None:
            divisor = float(self.divisor_override)
        elif not partial:
            divisor = float(self.kernel_size[0] * self.kernel_size[1])
        else:
            divisor = pool.avg_pool_divisor(x.shape[-2:], self.padding, self.kernel_size, self.stride, out_hw,
                                            self.count_include_pad)
        y, cache = pool.avg_pool2d(xp, self.kernel_size, self.stride, divisor)
        self._cache = (cache, y.shape, sides)
        return y

    _window_backward = staticmethod(pool.avg_pool2d_backward)


class _AdaptivePool2d(Module):
    """Pooling to a fixed output size ``(N, C, H, W) -> (N, C, *output_size)`` with torch's bins
    (:func:`cnnlab.numpy_nn.kernels.pool.adaptive_bins`); ``output_size`` an int, a pair, or a pair with ``None``
    for "the input's size" along that axis."""

    def __init__(self, output_size: int | tuple[int | None, int | None] | None) -> None:
        super().__init__()
        name = type(self).__name__
        sizes = output_size if isinstance(output_size, tuple | list) else (output_size, output_size)
        if len(sizes) != 2 or not all(v is None or (isinstance(v, int | np.integer) and not isinstance(v, bool)
                                                    and v > 0) for v in sizes):
            raise ValueError(f"{name}: output_size must be a positive int, or a pair of positive ints or None, got "
                             f"{output_size!r}")
        self.output_size = output_size
        self._sizes: tuple[int | None, int | None] = (sizes[0], sizes[1])
        self._cache: Any = None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def _out_hw(self, layer: str, shape: tuple[int, ...]) -> Pair:
        check_image_batch(layer, shape)
        if shape[-2] == 0 or shape[-1] == 0:
            raise ValueError(f"{layer}: expected an input with non-empty height and width, got shape {shape}")
        return (shape[-2] if self._sizes[0] is None else self._sizes[0],
                shape[-1] if self._sizes[1] is None else self._sizes[1])

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dx ``(N, C, H, W)``: each output's gradient spread over its bin (``None`` if ``need_input_grad`` is
        false)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        cache, out_shape = self._cache
        grad = check_grad(self._label(), grad_out, out_shape, np.result_type(grad_out))
        return self._bin_backward(grad, cache) if need_input_grad else None


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """The mean of every bin, as ``torch.nn.AdaptiveAvgPool2d``; ``AdaptiveAvgPool2d(1)`` is global average pooling
    ``(N, C, H, W) -> (N, C, 1, 1)``."""

    def forward(self, x: Any) -> np.ndarray:
        layer = self._label()
        x = check_float(layer, x, finite=False)
        y, cache = pool.adaptive_avg_pool2d(x, self._out_hw(layer, x.shape))
        self._cache = (cache, y.shape)
        return y

    _bin_backward = staticmethod(pool.adaptive_avg_pool2d_backward)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """The maximum of every bin, as ``torch.nn.AdaptiveMaxPool2d`` (the gradient goes to the first maximum);
    ``return_indices=True`` returns ``(y, indices)``, the flat positions ``row * W + col`` of the maxima."""

    def __init__(self, output_size: int | tuple[int | None, int | None] | None, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, x: Any) -> Any:
        layer = self._label()
        x = check_float(layer, x, finite=False)
        y, indices, cache = pool.adaptive_max_pool2d(x, self._out_hw(layer, x.shape))
        self._cache = (cache, y.shape)
        return (y, indices) if self.return_indices else y

    _bin_backward = staticmethod(pool.adaptive_max_pool2d_backward)


class ReLU(Module):
    """``max(x, 0)`` elementwise; the gradient at exactly 0 is 0 (as torch)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self._mask: np.ndarray | None = None

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        mask = x > 0
        self._mask = mask
        if self.inplace:
            np.multiply(x, mask, out=x)
            return x
        return np.multiply(x, mask)

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """``dL/dx = dL/dy * (x > 0)`` (``None`` if ``need_input_grad`` is false)."""
        if self._mask is None:
            raise no_forward_error(self._label())
        grad = check_grad(self._label(), grad_out, self._mask.shape, np.result_type(grad_out))
        return np.multiply(grad, self._mask) if need_input_grad else None


class Flatten(Module):
    """Flatten dimensions ``start_dim..end_dim`` into one (default: everything but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim
        self._shape: tuple[int, ...] | None = None
        self._out_shape: tuple[int, ...] = ()

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        ndim = max(x.ndim, 1)
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if not (-ndim <= self.start_dim < ndim and -ndim <= self.end_dim < ndim) or start > end:
            raise ValueError(f"{self._label()}: cannot flatten dims {self.start_dim}..{self.end_dim} of an input with "
                             f"shape {x.shape}")
        self._shape = x.shape
        y = x.reshape(*x.shape[:start], -1, *x.shape[end + 1:]) if x.ndim else x.reshape(1)
        self._out_shape = y.shape
        return y

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dy reshaped to the input's shape (``None`` if ``need_input_grad`` is false)."""
        if self._shape is None:
            raise no_forward_error(self._label())
        grad = check_grad(self._label(), grad_out, self._out_shape, np.result_type(grad_out))
        return grad.reshape(self._shape) if need_input_grad else None


class Dropout(Module):
    """In training mode zero each element with probability ``p`` and scale the rest by ``1/(1-p)``;
    identity in evaluation mode. Masks come from the engine's generator (:func:`init.manual_seed`)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got {p}")
        self.p = float(p)
        self.inplace = inplace
        self._scale: np.ndarray | float | None = None
        self._out_shape: tuple[int, ...] = ()

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        self._out_shape = x.shape
        if not self.training or self.p == 0.0:
            self._scale = 1.0
            return x
        if self.p == 1.0:
            self._scale = np.zeros_like(x)
        else:
            keep = init.default_generator().random(x.shape, dtype=np.float32) >= self.p
            self._scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._scale

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dy times the forward call's mask and scale (``None`` if ``need_input_grad`` is false)."""
        if self._scale is None:
            raise no_forward_error(self._label())
        grad = check_grad(self._label(), grad_out, self._out_shape, np.result_type(grad_out))
        if not need_input_grad:
            return None
        if isinstance(self._scale, float):  # evaluation mode or p == 0: identity
            return grad
        return grad * self._scale


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x: Any) -> Any:
        self._out_shape = np.shape(x)
        return x

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> Any:
        """dL/dy unchanged (``None`` if ``need_input_grad`` is false)."""
        if "_out_shape" not in self.__dict__:
            raise no_forward_error(self._label())
        if np.shape(grad_out) != self._out_shape:
            raise ValueError(f"{self._label()}: backward expected grad_out of shape {self._out_shape} (the shape of "
                             f"the last forward output), got {np.shape(grad_out)}")
        return grad_out if need_input_grad else None
