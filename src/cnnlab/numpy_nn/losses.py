"""Loss functions: ``loss = criterion(prediction, target)`` returns a Python float (an array of per-sample losses
for ``reduction='none'``), ``criterion.backward()`` returns dL/dprediction of that call (as an array of the
prediction's shape and dtype). ``backward`` has the modules' signature ``backward(grad_out=1.0, *,
need_input_grad=True)`` (``grad_out`` an array like the loss for ``reduction='none'``). Arguments as torch's, with
everything after ``weight`` keyword-only (torch's deprecated ``size_average`` / ``reduce`` are not offered)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnlab.numpy_nn._checks import as_array, check_float, no_forward_error
from cnnlab.numpy_nn.activations import log_softmax
from cnnlab.numpy_nn.module import DEFAULT_DTYPE, Module

__all__ = ["CrossEntropyLoss", "MSELoss", "NLLLoss"]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name: str, reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _scalar_grad(layer: str, grad_out: Any) -> float:
    """The upstream gradient of a reduced loss: one finite number (the loss is a scalar)."""
    if np.ndim(grad_out) != 0:
        raise ValueError(f"{layer}: backward expected grad_out to be a scalar (the loss is one number), got shape "
                         f"{np.shape(grad_out)}")
    value = float(grad_out)
    if not np.isfinite(value):
        raise ValueError(f"{layer}: backward got grad_out {value}; it must be finite")
    return value


def _check_class_weight(name: str, weight: Any) -> np.ndarray | None:
    if weight is None:
        return None
    if hasattr(weight, "detach"):  # a torch tensor
        weight = weight.detach().cpu().numpy()
    array = np.array(weight, dtype=DEFAULT_DTYPE)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: weight must be a 1-D array of finite per-class weights (classes,), got "
                         f"{np.shape(weight)}")
    return array


class _ClassLoss(Module):
    """Shared by NLLLoss and CrossEntropyLoss: validation of ``(N, K)`` scores against integer labels ``(N,)``,
    class weights, ``ignore_index`` and the reduction.

    With ``w_i = weight[y_i]`` (1 without weights; 0 where ``y_i == ignore_index``) and ``l_i`` the per-sample loss,
    ``'mean'`` is ``sum_i w_i l_i / sum_i w_i`` (torch's weighted mean; NaN when every target is ignored, as torch),
    ``'sum'`` is ``sum_i w_i l_i`` and ``'none'`` the array ``w_i l_i`` ``(N,)``.
    """

    weight: np.ndarray | None

    def __init__(self, weight: Any, ignore_index: int, reduction: str) -> None:
        super().__init__()
        name = type(self).__name__
        self.reduction = _check_reduction(name, reduction)
        # a buffer, as in torch: the class weights are in the loss's state_dict
        self.register_buffer("weight", _check_class_weight(name, weight))
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer):
            raise TypeError(f"{name}: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = int(ignore_index)
        #: (dL/dscores per unit of the reduced loss, divisor) of the last call
        self._cache: tuple[np.ndarray, np.ndarray | float] | None = None

    def extra_repr(self) -> str:
        text = f"reduction={self.reduction!r}"
        if self.weight is not None:
            text += f", weight={self.weight.tolist()}"
        if self.ignore_index != -100:
            text += f", ignore_index={self.ignore_index}"
        return text

    def _check(self, scores: Any, target: Any, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The scores ``(N, K)``, the labels ``(N,)`` and the per-sample weights ``w_i`` (0 for ignored)."""
        layer = self._label()
        scores = check_float(layer, scores, what)
        target = as_array(layer, target, "target")
        if scores.ndim != 2:
            hint = f" For one sample use {what}[None] and target[None]." if scores.ndim == 1 else ""
            raise ValueError(f"{layer}: expected {what} of shape (N, classes), got shape {scores.shape}.{hint}")
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"{layer}: target must hold integer class indices (N,), got dtype {target.dtype} with "
                            f"shape {target.shape}" + (" (one-hot or probabilities are not supported; use "
                                                       "target.argmax(1))" if target.ndim == 2 else ""))
        n, classes = scores.shape
        if target.shape != (n,):
            raise ValueError(f"{layer}: target must have shape ({n},) to match {what} {scores.shape}, got "
                             f"{target.shape}")
        if n == 0:
            raise ValueError(f"{layer}: empty batch")
        if self.weight is not None and self.weight.size != classes:
            raise ValueError(f"{layer}: weight has {self.weight.size} entries but there are {classes} classes")
        kept = target != self.ignore_index
        bad = kept & ((target < 0) | (target >= classes))
        if bad.any():
            raise ValueError(f"{layer}: target class {int(target[bad][0])} is out of range for {classes} classes "
                             f"(0..{classes - 1}" + (f", or ignore_index={self.ignore_index})" if
                                                      self.ignore_index != -100 else ")"))
        safe_target = np.where(kept, target, 0)
        per_sample = np.where(kept, 1.0 if self.weight is None else self.weight[safe_target].astype(np.float64), 0.0)
        return scores, safe_target, per_sample

    def _reduce(self, losses: np.ndarray, weights: np.ndarray) -> tuple[Any, np.ndarray | float]:
        """The reduced loss of per-sample losses (already weighted) and the divisor the gradient shares."""
        if self.reduction == "none":
            return losses, np.ones_like(losses)
        total = float(losses.sum(dtype=np.float64))
        if self.reduction == "sum":
            return total, 1.0
        denominator = float(weights.sum(dtype=np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / denominator if denominator else math.nan), denominator

    def _scale(self, grad_out: Any, divisor: np.ndarray | float, dtype: np.dtype) -> Any:
        """``grad_out / divisor`` per sample, as a column ``(N, 1)`` for ``'none'``, else a scalar."""
        if self.reduction == "none":
            grad = np.asarray(grad_out, dtype=dtype)
            return np.broadcast_to(grad, np.shape(divisor)).reshape(-1, 1)
        scale = _scalar_grad(self._label(), grad_out)
        return scale / float(divisor) if divisor else math.nan

    def backward(self, grad_out: Any = 1.0, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dscores ``(N, K)`` of the last call, times ``grad_out`` (``(N,)`` for ``reduction='none'``);
        ``None`` if ``need_input_grad`` is false."""
        if self._cache is None:
            raise no_forward_error(self._label())
        grad, divisor = self._cache
        scale = self._scale(grad_out, divisor, grad.dtype)
        if not need_input_grad:
            return None
        return (grad * (scale if isinstance(scale, np.ndarray) else grad.dtype.type(scale))).astype(grad.dtype)


class NLLLoss(_ClassLoss):
    """Negative log-likelihood of log-probabilities ``(N, K)`` (e.g. from :class:`LogSoftmax`) against integer labels
    ``(N,)``: ``l_i = -logp[i, y_i]``, weighted and reduced as torch (see :class:`_ClassLoss`). Gradient:
    ``-w_i / divisor`` at ``(i, y_i)``, zero elsewhere."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, ignore_index, reduction)

    def forward(self, log_probs: Any, target: Any) -> Any:
        logp, target, weights = self._check(log_probs, target, "log-probabilities")
        rows = np.arange(len(target))
        losses = -logp[rows, target].astype(np.float64) * weights
        loss, divisor = self._reduce(losses, weights)
        grad = np.zeros_like(logp)
        grad[rows, target] = -weights
        self._cache = (grad, divisor)
        return loss


class CrossEntropyLoss(_ClassLoss):
    """Softmax cross-entropy of logits ``(N, K)`` against integer class labels ``(N,)``, as
    ``torch.nn.CrossEntropyLoss``: ``log_softmax`` then :class:`NLLLoss`, with torch's ``weight`` (per class),
    ``ignore_index`` (labels that add nothing), ``reduction`` (``'mean'``, ``'sum'``, ``'none'``) and
    ``label_smoothing``.

    With ``eps = label_smoothing`` the target is ``(1 - eps) * onehot(y) + eps / K`` and, with class weights, each
    class's share weighted as torch does: ``l_i = (1 - eps) w[y_i] (-logp[i, y_i]) + eps/K sum_c w[c] (-logp[i, c])``,
    both parts divided by ``sum_i w[y_i]`` for ``'mean'``. Numerically stable (log-sum-exp): any finite logits give
    a finite loss. Gradient: ``(softmax(z) * sum(t) - t) / divisor`` with ``t`` the weighted target above.
    """

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", label_smoothing={self.label_smoothing}" if self.label_smoothing else "")

    def forward(self, logits: Any, target: Any) -> Any:
        logits, target, weights = self._check(logits, target, "logits")
        n, classes = logits.shape
        rows = np.arange(n)
        logp = log_softmax(logits, axis=1)
        eps = self.label_smoothing
        # the weighted target distribution t (rows of ignored samples are zero)
        t = np.zeros(logp.shape, dtype=np.float64)
        t[rows, target] = (1.0 - eps) * weights
        if eps:
            class_weight = np.ones(classes) if self.weight is None else self.weight.astype(np.float64)
            t += (eps / classes) * (weights > 0)[:, None] * class_weight[None, :]
        losses = -(t * logp).sum(axis=1)
        loss, divisor = self._reduce(losses, weights)
        grad = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t).astype(logp.dtype)
        self._cache = (grad, divisor)
        return loss


class MSELoss(Module):
    """Mean squared error ``mean((prediction - target)^2)`` over all elements (``reduction='mean'``; ``'sum'``, or
    ``'none'``: the squared differences themselves)."""

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction("MSELoss", reduction)
        self._diff: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def forward(self, prediction: Any, target: Any) -> Any:
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
        if self.reduction == "none":
            return np.square(diff)
        total = float(np.square(diff).sum(dtype=np.float64))
        return total / diff.size if self.reduction == "mean" else total

    def backward(self, grad_out: float = 1.0, *, need_input_grad: bool = True) -> np.ndarray | None:
        """dL/dprediction ``2 (prediction - target)`` (divided by the element count for ``'mean'``) of the last
        call, times ``grad_out`` (``None`` if ``need_input_grad`` is false)."""
        if self._diff is None:
            raise no_forward_error(self._label())
        if self.reduction == "none":
            return 2 * self._diff * np.asarray(grad_out, dtype=self._diff.dtype) if need_input_grad else None
        scale = 2.0 * _scalar_grad(self._label(), grad_out) / (self._diff.size if self.reduction == "mean" else 1)
        if not need_input_grad:
            return None
        return self._diff * self._diff.dtype.type(scale)
