r"""Normalisation layers with torch's signatures, parameters, buffers and train/eval behaviour: ``BatchNorm1d``,
``BatchNorm2d``, ``LayerNorm`` and ``GroupNorm``.

Each computes ``y = x_hat * weight + bias`` with ``x_hat`` the input normalised over some axes
(:mod:`cnnlab.numpy_nn.kernels.norm`, forward and backward):

============ ============================================ ====================================================
layer        statistics over                               parameters (``affine``)
============ ============================================ ====================================================
BatchNorm    the batch and every spatial position, per     ``weight``/``bias`` ``(C,)``; buffers
             channel -- in training; in evaluation the     ``running_mean``, ``running_var`` ``(C,)``,
             running averages                              ``num_batches_tracked`` ``()`` int64
LayerNorm    the last dimensions (``normalized_shape``),   ``weight``/``bias`` of ``normalized_shape``
             per sample
GroupNorm    each group of ``C/G`` channels and every      ``weight``/``bias`` ``(C,)``
             spatial position, per sample
============ ============================================ ====================================================

BatchNorm's running statistics follow torch exactly: in training mode each batch adds
``running = (1 - m) * running + m * batch_statistic`` with the *unbiased* batch variance (``m = momentum``, or
``1 / num_batches_tracked`` when ``momentum=None``: a cumulative average); evaluation mode normalises with them.
``affine=False`` drops ``weight`` and ``bias``; ``bias=False`` (keyword-only, as in torch 2.13) only the bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnlab.geometry import channel_hint
from cnnlab.numpy_nn._checks import check_float, check_grad, no_forward_error
from cnnlab.numpy_nn.kernels.norm import NormCache, normalize, normalize_backward
from cnnlab.numpy_nn.module import DEFAULT_DTYPE, Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm"]


def _positive_int(layer: str, name: str, value: Any) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative(layer: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{layer}: {name} must be a non-negative number, got {value!r}")
    return float(value)


class _Affine(Module):
    """Shared by the normalisation layers: the optional per-feature ``weight`` (ones) and ``bias`` (zeros), the
    cache, and the affine part of forward and backward."""

    def _init_affine(self, shape: tuple[int, ...], affine: bool, dtype: Any, bias: bool = True) -> None:
        if affine:
            self.weight = Parameter(np.ones(shape), dtype=dtype)
            if bias:
                self.bias = Parameter(np.zeros(shape), dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        #: (normalisation cache, input shape, axes dL/dweight sums over, whether x_hat came from batch statistics)
        self._cache: tuple[NormCache, tuple[int, ...], tuple[int, ...], bool] | None = None

    def _input(self, x: Any) -> np.ndarray:
        """``x`` checked and in the dtype the layer computes in: its parameters' (float32 by default), or without
        parameters the input's own floating dtype (as a parameter-free layer)."""
        x = check_float(self._label(), x)
        weight = self._parameters.get("weight")
        return x if weight is None else x.astype(weight.data.dtype, copy=False)

    def _scale_shift(self, x_hat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``x_hat * weight + bias`` with the parameters reshaped to ``shape`` for broadcasting."""
        y = x_hat
        if self.weight is not None:
            y = y * self.weight.data.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.data.reshape(shape)
        return y

    def _affine_backward(self, grad: np.ndarray, x_hat: np.ndarray, shape: tuple[int, ...],
                         sum_axes: tuple[int, ...]) -> np.ndarray:
        """Add ``dL/dweight = sum(dy * x_hat)``, ``dL/dbias = sum(dy)`` (over ``sum_axes``); return ``dL/dx_hat``."""
        if self.bias is not None:
            self.bias.grad += grad.sum(axis=sum_axes).reshape(self.bias.shape)
        if self.weight is None:
            return grad
        self.weight.grad += (grad * x_hat).sum(axis=sum_axes).reshape(self.weight.shape)
        return grad * self.weight.data.reshape(shape)


class _BatchNorm(_Affine):
    """Batch normalisation over every axis but the channels (axis 1); :class:`BatchNorm1d` and
    :class:`BatchNorm2d` fix the accepted input ranks."""

    #: Accepted input ranks and how they are described in errors.
    _ranks: tuple[int, ...]
    _layouts: str

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(name, "num_features", num_features)
        self.eps = _non_negative(name, "eps", eps)
        self.momentum = None if momentum is None else _non_negative(name, "momentum", momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self._init_affine((self.num_features,), self.affine, dtype, bias)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=self._buffer_dtype(dtype)))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=self._buffer_dtype(dtype)))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buffer, None)

    @staticmethod
    def _buffer_dtype(dtype: Any) -> np.dtype:
        return np.dtype(dtype or DEFAULT_DTYPE)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked (in place)."""
        if self.track_running_stats:
            self.running_mean.fill(0)
            self.running_var.fill(1)
            self.num_batches_tracked.fill(0)

    def reset_parameters(self) -> None:
        """The running statistics reset, ``weight`` 1 and ``bias`` 0 (torch's defaults)."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data.fill(1)
        if self.bias is not None:
            self.bias.data.fill(0)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")

    def _check_input(self, x: np.ndarray) -> None:
        layer = self._label()
        if x.ndim not in self._ranks:
            ranks = " or ".join(f"{r}-D" for r in self._ranks)
            hint = ""
            if x.ndim == 4 and 4 not in self._ranks:
                hint = " Image batches (N, C, H, W) need BatchNorm2d."
            elif x.ndim in (2, 3) and 4 in self._ranks:
                hint = " Feature vectors (N, C) or sequences (N, C, L) need BatchNorm1d."
            raise ValueError(f"{layer}: expected a {ranks} input {self._layouts}, got shape {x.shape} "
                             f"({x.ndim}-D).{hint}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{layer}: expected input with {self.num_features} channels (num_features) in axis 1, "
                             f"got shape {x.shape} with {x.shape[1]}.{channel_hint(x.shape, self.num_features)} "
                             f"Does num_features match the previous layer's output channels?")

    def forward(self, x: Any) -> np.ndarray:
        layer = self._label()
        x = self._input(x)
        self._check_input(x)
        axes = (0, *range(2, x.ndim))
        shape = (1, self.num_features, *(1,) * (x.ndim - 2))
        use_batch_stats = self.training or self.running_mean is None
        if use_batch_stats:
            count = x.size // self.num_features
            if self.training and count <= 1:
                raise ValueError(f"{layer}: expected more than 1 value per channel when training, got input of shape "
                                 f"{x.shape} (as torch: batch statistics of one value are undefined; use a larger "
                                 f"batch, or eval() to normalise with the running statistics)")
            x_hat, mean, var, cache = normalize(x, axes, self.eps)
            if self.training and self.running_mean is not None:
                self._update_running_stats(mean.reshape(-1), var.reshape(-1), count)
        else:
            running_mean, running_var = (b.astype(x.dtype, copy=False).reshape(shape)
                                         for b in (self.running_mean, self.running_var))
            inv_std = 1.0 / np.sqrt(running_var + x.dtype.type(self.eps))
            x_hat = (x - running_mean) * inv_std
            cache = NormCache(x_hat, inv_std, axes)
        self._cache = (cache, x.shape, axes, use_batch_stats)
        return self._scale_shift(x_hat, shape)

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        """``running = (1 - m) * running + m * batch`` with the unbiased variance (torch's update, in place)."""
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        dtype = self.running_mean.dtype.type
        self.running_mean *= dtype(1.0 - factor)
        self.running_mean += dtype(factor) * mean.astype(self.running_mean.dtype)
        self.running_var *= dtype(1.0 - factor)
        self.running_var += dtype(factor) * (var * (count / (count - 1))).astype(self.running_var.dtype)

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Add dL/dweight, dL/dbias; return dL/dx -- through the batch statistics in training mode, a per-channel
        scale ``weight / sqrt(running_var + eps)`` in evaluation mode (``None`` if ``need_input_grad`` is false)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        cache, in_shape, axes, batch_stats = self._cache
        grad = check_grad(self._label(), grad_out, in_shape, cache.x_hat.dtype)
        shape = (1, self.num_features, *(1,) * (len(in_shape) - 2))
        grad_x_hat = self._affine_backward(grad, cache.x_hat, shape, axes)
        if not need_input_grad:
            return None
        if batch_stats:
            return normalize_backward(grad_x_hat, cache)
        # evaluation mode: x_hat = (x - running_mean) * inv_std is an affine map of x (constant statistics)
        return grad_x_hat * cache.inv_std


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features ``(N, C)`` or sequences ``(N, C, L)`` (statistics per channel over the
    batch and ``L``), as ``torch.nn.BatchNorm1d``. See the module docstring for the running statistics."""

    _ranks = (2, 3)
    _layouts = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of image batches ``(N, C, H, W)`` (statistics per channel over the batch, the height
    and the width), as ``torch.nn.BatchNorm2d``. See the module docstring for the running statistics."""

    _ranks = (4,)
    _layouts = "(N, C, H, W)"


class LayerNorm(_Affine):
    """Normalise every sample over its last dimensions ``normalized_shape`` (an int or a tuple), as
    ``torch.nn.LayerNorm``; the same in training and evaluation. ``weight`` (ones) and ``bias`` (zeros) have
    ``normalized_shape`` (``elementwise_affine=False``: none; ``bias=False``: no bias)."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int | np.integer) else tuple(normalized_shape)
        if not shape or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s <= 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a non-empty tuple of them, got "
                             f"{normalized_shape!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = _non_negative("LayerNorm", "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        self._init_affine(self.normalized_shape, self.elementwise_affine, dtype, bias)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")

    def forward(self, x: Any) -> np.ndarray:
        layer = self._label()
        x = self._input(x)
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape or x.ndim < k:
            raise ValueError(f"{layer}: given normalized_shape={self.normalized_shape}, expected input with shape "
                             f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {x.shape}")
        axes = tuple(range(x.ndim - k, x.ndim))
        x_hat, _, _, cache = normalize(x, axes, self.eps)
        self._cache = (cache, x.shape, tuple(range(x.ndim - k)), True)
        return self._scale_shift(x_hat, self.normalized_shape)

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Add dL/dweight, dL/dbias (summed over the leading dimensions); return dL/dx (``None`` if
        ``need_input_grad`` is false)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        cache, in_shape, leading, _ = self._cache
        grad = check_grad(self._label(), grad_out, in_shape, cache.x_hat.dtype)
        grad_x_hat = self._affine_backward(grad, cache.x_hat, self.normalized_shape, leading)
        return normalize_backward(grad_x_hat, cache) if need_input_grad else None


class GroupNorm(_Affine):
    """Split the ``num_channels`` channels of ``(N, C, *)`` into ``num_groups`` groups and normalise every sample's
    group over its channels and positions, as ``torch.nn.GroupNorm``; then a per-channel ``weight`` and ``bias``
    ``(C,)``. The same in training and evaluation (``num_groups=1``: over all of a sample, ``num_groups=C``: over
    each channel alone, i.e. instance norm)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_groups = _positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = _positive_int("GroupNorm", "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups (num_channels="
                             f"{num_channels}, num_groups={num_groups})")
        self.eps = _non_negative("GroupNorm", "eps", eps)
        self.affine = bool(affine)
        self._init_affine((self.num_channels,), self.affine, dtype, bias)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")

    def forward(self, x: Any) -> np.ndarray:
        layer = self._label()
        x = self._input(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            got = f"{x.shape[1]} channels" if x.ndim >= 2 else f"{x.ndim}-D"
            raise ValueError(f"{layer}: expected input (N, {self.num_channels}, *) with num_channels="
                             f"{self.num_channels} in axis 1, got shape {x.shape} ({got})."
                             f"{channel_hint(x.shape, self.num_channels)}")
        grouped = x.reshape(x.shape[0], self.num_groups, -1)
        x_hat, _, _, cache = normalize(grouped, (2,), self.eps)
        shape = (1, self.num_channels, *(1,) * (x.ndim - 2))
        self._cache = (cache, x.shape, (0, *range(2, x.ndim)), True)
        return self._scale_shift(x_hat.reshape(x.shape), shape)

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """Add dL/dweight, dL/dbias; return dL/dx (``None`` if ``need_input_grad`` is false)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        cache, in_shape, sum_axes, _ = self._cache
        grad = check_grad(self._label(), grad_out, in_shape, cache.x_hat.dtype)
        shape = (1, self.num_channels, *(1,) * (len(in_shape) - 2))
        grad_x_hat = self._affine_backward(grad, cache.x_hat.reshape(in_shape), shape, sum_axes)
        if not need_input_grad:
            return None
        return normalize_backward(grad_x_hat.reshape(cache.x_hat.shape), cache).reshape(in_shape)
