"""Loss functions: ``loss = criterion(prediction, target)`` returns a Python float, ``criterion.backward()``
returns dL/dprediction of that call (as an array of the prediction's shape and dtype). ``backward`` has the
modules' signature ``backward(grad_out=1.0, *, need_input_grad=True)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.numpy_nn._checks import as_array, check_float, no_forward_error
from cnnlab.numpy_nn.module import Module

__all__ = ["CrossEntropyLoss", "MSELoss"]

REDUCTIONS = ("mean", "sum")


def _check_reduction(name: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _scalar_grad(layer: str, grad_out: Any) -> float:
    """The upstream gradient of a loss: one finite number (the loss is a scalar)."""
    if np.ndim(grad_out) != 0:
        raise ValueError(f"{layer}: backward expected grad_out to be a scalar (the loss is one number), got shape "
                         f"{np.shape(grad_out)}")
    value = float(grad_out)
    if not np.isfinite(value):
        raise ValueError(f"{layer}: backward got grad_out {value}; it must be finite")
    return value


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(softmax(logits))`` computed stably: ``z - max(z) - log(sum(exp(z - max(z))))``."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits ``(N, K)`` against integer class labels ``(N,)``, averaged over the batch
    (``reduction='mean'``, or ``'sum'``), as ``torch.nn.CrossEntropyLoss``.

    Numerically stable (log-sum-exp): any finite logits give a finite loss. ``label_smoothing=eps`` mixes the
    one-hot target with the uniform distribution as torch does. Gradient: ``(softmax(z) - target) / N``.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.reduction = _check_reduction("CrossEntropyLoss", reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" + (f", label_smoothing={self.label_smoothing}"
                                                   if self.label_smoothing else "")

    def forward(self, logits: Any, target: Any) -> float:
        layer = self._label()
        logits = check_float(layer, logits, "logits")
        target = as_array(layer, target, "target")
        if logits.ndim != 2:
            hint = " For one sample use logits[None] and target[None]." if logits.ndim == 1 else ""
            raise ValueError(f"{layer}: expected logits of shape (N, classes), got shape {logits.shape}.{hint}")
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"{layer}: target must hold integer class indices (N,), got dtype {target.dtype} with "
                            f"shape {target.shape}" + (" (one-hot or probabilities are not supported; use "
                                                       "target.argmax(1))" if target.ndim == 2 else ""))
        n, classes = logits.shape
        if target.shape != (n,):
            raise ValueError(f"{layer}: target must have shape ({n},) to match logits {logits.shape}, got "
                             f"{target.shape}")
        if n and (target.min() < 0 or target.max() >= classes):
            bad = target[(target < 0) | (target >= classes)][0]
            raise ValueError(f"{layer}: target class {int(bad)} is out of range for {classes} classes "
                             f"(0..{classes - 1})")
        if n == 0:
            raise ValueError(f"{layer}: empty batch")
        logp = log_softmax(logits, axis=1)
        picked = -logp[np.arange(n), target]
        if self.label_smoothing:
            eps = self.label_smoothing
            per_sample = (1.0 - eps) * picked - eps * logp.mean(axis=1)
        else:
            per_sample = picked
        total = float(per_sample.sum(dtype=np.float64))
        self._cache = (logp, target)
        return total / n if self.reduction == "mean" else total

    def backward(self, grad_out: float = 1.0, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dlogits ``(N, K)`` of the last call, times ``grad_out`` (``None`` if ``need_input_grad`` is false)."""
        if self._cache is None:
            raise no_forward_error(self._label())
        grad_scale = _scalar_grad(self._label(), grad_out)
        if not need_input_grad:
            return None
        logp, target = self._cache
        n, classes = logp.shape
        grad = np.exp(logp)
        eps = self.label_smoothing
        if eps:
            grad -= eps / classes
        grad[np.arange(n), target] -= 1.0 - eps
        scale = grad_scale / n if self.reduction == "mean" else grad_scale
        grad *= grad.dtype.type(scale)
        return grad


class MSELoss(Module):
    """Mean squared error ``mean((prediction - target)^2)`` over all elements (``reduction='mean'``, or ``'sum'``)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("MSELoss", reduction)
        self._diff: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def forward(self, prediction: Any, target: Any) -> float:
        layer = self._label()
        prediction = check_float(layer, prediction, "prediction")
        target = check_float(layer, target, "target")
        if prediction.shape != target.shape:
            raise ValueError(f"{layer}: prediction {prediction.shape} and target {target.shape} must have the same "
                             f"shape")
        if prediction.size == 0:
            raise ValueError(f"{layer}: empty input")
        diff = prediction - target.astype(prediction.dtype, copy=False)
        self._diff = diff
        total = float(np.square(diff).sum(dtype=np.float64))
        return total / diff.size if self.reduction == "mean" else total

    def backward(self, grad_out: float = 1.0, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dprediction ``2 (prediction - target)`` (divided by the element count for ``'mean'``) of the last
        call, times ``grad_out`` (``None`` if ``need_input_grad`` is false)."""
        if self._diff is None:
            raise no_forward_error(self._label())
        grad_scale = _scalar_grad(self._label(), grad_out)
        if not need_input_grad:
            return None
        scale = 2.0 * grad_scale / (self._diff.size if self.reduction == "mean" else 1)
        return self._diff * self._diff.dtype.type(scale)
