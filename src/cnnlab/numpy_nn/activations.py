r"""Activation modules beyond the assignments' ``ReLU`` (which lives with the assignments' layers in
:mod:`cnnlab.numpy_nn.layers`), with torch's names, arguments and gradients:

=============  ==========================================  ===============================================
module         forward                                     dL/dx
=============  ==========================================  ===============================================
LeakyReLU      ``x`` if ``x > 0`` else ``a*x``             ``dy`` if ``x > 0`` else ``a*dy``
Sigmoid        ``s = 1 / (1 + exp(-x))``                   ``dy * s * (1 - s)``
Tanh           ``t = tanh(x)``                             ``dy * (1 - t^2)``
GELU           ``x * Phi(x)``, ``Phi`` the normal CDF       ``dy * (Phi(x) + x * phi(x))``
               (``approximate='tanh'``: torch's formula)
Softmax        ``p = exp(x) / sum(exp(x))`` along ``dim``   ``p * (dy - sum(dy * p))``
LogSoftmax     ``x - logsumexp(x)`` along ``dim``           ``dy - softmax(x) * sum(dy)``
=============  ==========================================  ===============================================
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from cnnlab.numpy_nn._checks import check_float, check_grad, no_forward_error
from cnnlab.numpy_nn.module import Module

__all__ = ["GELU", "LeakyReLU", "LogSoftmax", "Sigmoid", "Softmax", "Tanh"]


class _Elementwise(Module):
    """An activation applied elementwise: ``forward`` keeps what ``_grad`` needs, ``backward`` checks the shape."""

    def __init__(self) -> None:
        super().__init__()
        self._saved: np.ndarray | None = None

    def _grad(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dx from dL/dy (the table in the module docstring); ``None`` if ``need_input_grad`` is false."""
        if self._saved is None:
            raise no_forward_error(self._label())
        grad = check_grad(self._label(), grad_out, self._saved.shape, self._saved.dtype)
        return self._grad(grad) if need_input_grad else None


class LeakyReLU(_Elementwise):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (the gradient at 0 is ``negative_slope``, as torch)."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        slope = np.where(x > 0, x.dtype.type(1), x.dtype.type(self.negative_slope))
        self._saved = slope
        if self.inplace:
            np.multiply(x, slope, out=x)
            return x
        return x * slope

    def _grad(self, grad: np.ndarray) -> np.ndarray:
        assert self._saved is not None
        return grad * self._saved


class Sigmoid(_Elementwise):
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        s = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self._saved = s
        return s

    def _grad(self, grad: np.ndarray) -> np.ndarray:
        s = self._saved
        assert s is not None
        return grad * s * (1 - s)


class Tanh(_Elementwise):
    """The hyperbolic tangent."""

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        t = np.tanh(x)
        self._saved = t
        return t

    def _grad(self, grad: np.ndarray) -> np.ndarray:
        t = self._saved
        assert t is not None
        return grad * (1 - t * t)


#: ``erf`` elementwise (NumPy has none): the standard library's, which is exact to double precision.
_erf = np.frompyfunc(math.erf, 1, 1)


class GELU(_Elementwise):
    """Gaussian error linear unit ``x * Phi(x)`` with ``Phi(x) = (1 + erf(x / sqrt 2)) / 2`` (``approximate='none'``,
    torch's default), or torch's tanh approximation ``x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``
    (``approximate='tanh'``). The exact form evaluates ``erf`` with :func:`math.erf` per element: exact, but
    slow for large activations -- prefer ``'tanh'`` there."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._x: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        self._x = x
        if self.approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            t = np.tanh(inner)
            self._saved = t
            return (0.5 * x * (1 + t)).astype(x.dtype, copy=False)
        cdf = (0.5 * (1 + _erf(x.astype(np.float64) / math.sqrt(2)).astype(np.float64))).astype(x.dtype)
        self._saved = cdf
        return x * cdf

    def _grad(self, grad: np.ndarray) -> np.ndarray:
        x, saved = self._x, self._saved
        assert x is not None and saved is not None
        if self.approximate == "tanh":
            d_inner = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
            local = 0.5 * (1 + saved) + 0.5 * x * (1 - saved * saved) * d_inner
        else:
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            local = saved + x * pdf
        return (grad * local).astype(x.dtype, copy=False)


def _softmax_dim(name: str, dim: int | None, ndim: int) -> int:
    """torch's rule for ``dim=None`` (deprecated there too): dim 0 for 0-, 1- and 3-D inputs, else dim 1."""
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated (as in torch). Change the call to "
                      "include dim=X as an argument.", UserWarning, stacklevel=3)
        return 0 if ndim in (0, 1, 3) else 1
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name}: dim {dim} is out of range for an input with {ndim} dimensions")
    return dim % max(ndim, 1)


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim`` (stable: the maximum is subtracted first)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim
        self._p: np.ndarray | None = None
        self._axis = 0

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        self._axis = _softmax_dim("Softmax", self.dim, x.ndim)
        shifted = np.exp(x - x.max(axis=self._axis, keepdims=True))
        self._p = shifted / shifted.sum(axis=self._axis, keepdims=True)
        return self._p

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """``dL/dx = p * (dy - sum(dy * p))`` along ``dim`` (``None`` if ``need_input_grad`` is false)."""
        if self._p is None:
            raise no_forward_error(self._label())
        p = self._p
        grad = check_grad(self._label(), grad_out, p.shape, p.dtype)
        return p * (grad - (grad * p).sum(axis=self._axis, keepdims=True)) if need_input_grad else None


class LogSoftmax(Module):
    """``x - log(sum(exp(x)))`` along ``dim``, computed stably (log-sum-exp)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim
        self._logp: np.ndarray | None = None
        self._axis = 0

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, x: Any) -> np.ndarray:
        x = check_float(self._label(), x, finite=False)
        self._axis = _softmax_dim("LogSoftmax", self.dim, x.ndim)
        self._logp = log_softmax(x, self._axis)
        return self._logp

    def backward(self, grad_out: Any, *, need_input_grad: bool = True) -> np.ndarray | None:
        """``dL/dx = dy - softmax(x) * sum(dy)`` along ``dim`` (``None`` if ``need_input_grad`` is false)."""
        if self._logp is None:
            raise no_forward_error(self._label())
        logp = self._logp
        grad = check_grad(self._label(), grad_out, logp.shape, logp.dtype)
        if not need_input_grad:
            return None
        return grad - np.exp(logp) * grad.sum(axis=self._axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` along ``axis``, computed stably: ``z - max(z) - log(sum(exp(z - max(z))))``."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
