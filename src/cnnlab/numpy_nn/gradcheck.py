"""Finite-difference gradient check (float64) for layers, losses and functions with a hand-written backward.

The scalar checked is ``f = sum(g * forward(inputs))`` for a fixed random ``g`` (or the loss itself for losses),
so one backward call gives every analytic gradient; each one is compared with the central difference
``(f(v + eps) - f(v - eps)) / (2 eps)`` for every element of every floating input and every parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cnnlab.numpy_nn.module import Module

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numeric one; the message names the worst element."""


class _FunctionAdapter:
    """Wraps ``fn(*inputs) -> (output, backward)`` where ``backward(grad_out)`` returns one gradient per input."""

    def __init__(self, fn: Callable[..., tuple[Any, Callable[[Any], Any]]]) -> None:
        self.fn = fn
        self._backward: Callable[[Any], Any] | None = None

    def __call__(self, *inputs: Any) -> Any:
        out, self._backward = self.fn(*inputs)
        return out

    def backward(self, grad_out: Any) -> Any:
        assert self._backward is not None
        return self._backward(grad_out)

    def named_parameters(self) -> list:
        return []


def gradcheck(module_or_fn: Module | Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, check_inputs: bool = True) -> bool:
    """Compare the hand-written backward of ``module_or_fn`` with central differences, in float64.

    ``module_or_fn``: a :class:`Module` (layer or loss; its parameters are converted to float64 for the check and
    restored afterwards), or a function ``fn(*inputs) -> (output, backward)`` whose ``backward(grad_out)``
    returns the gradient of each input (a tuple, or one array for one input).

    ``inputs``: one array or a sequence of them; floating arrays are differentiated (after conversion to
    float64), integer ones (class labels) are passed through. Losses (scalar output) are checked as they are;
    other outputs are contracted with a fixed random array (``seed``).

    Returns ``True``; raises :class:`GradcheckError` naming the worst element -- which input or parameter, its
    index, the analytic and the numeric value -- when ``|analytic - numeric| > atol + rtol * |numeric|`` anywhere,
    when an analytic or numeric gradient is NaN or infinite, or when ``backward`` returns no gradient (``None``) for a
    floating input (one array returned stands for the first input only, as a loss returns d/dprediction).
    """
    inputs_tuple = (inputs,) if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence) else tuple(inputs)
    arrays = [np.array(a, dtype=np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else np.asarray(a)
              for a in inputs_tuple]
    is_module = isinstance(module_or_fn, Module)
    target: Any = module_or_fn if is_module or hasattr(module_or_fn, "backward") else _FunctionAdapter(module_or_fn)
    params = list(target.named_parameters()) if is_module else []
    saved_dtypes = [p.data.dtype for _, p in params]
    try:
        if is_module:
            target.to(np.float64)
        return _check(target, arrays, params, eps, atol, rtol, seed, check_inputs)
    finally:
        for (_, param), dtype in zip(params, saved_dtypes, strict=True):
            param.astype_(dtype)


def _check(target: Any, arrays: list[np.ndarray], params: list, eps: float, atol: float, rtol: float, seed: int,
           check_inputs: bool) -> bool:
    rng = np.random.default_rng(seed)
    out = target(*arrays)
    scalar = np.ndim(out) == 0
    weights = np.ones(()) if scalar else rng.standard_normal(np.shape(out))  # contracts a non-scalar output

    def objective() -> float:
        value = target(*arrays)
        return float(value) if scalar else float(np.sum(weights * np.asarray(value, dtype=np.float64)))

    # analytic gradients (one backward call, starting from zero parameter gradients)
    objective()
    for _, param in params:
        param.zero_grad()
    grads_in = target.backward(1.0 if scalar else weights)
    differentiable = [i for i, a in enumerate(arrays) if np.issubdtype(a.dtype, np.floating)]
    checks: list[tuple[str, np.ndarray, np.ndarray]] = []
    if check_inputs and differentiable:
        # One array back means the gradient of the first input (e.g. a loss: d/dprediction, not d/dtarget).
        given = dict(enumerate(grads_in)) if isinstance(grads_in, tuple | list) else {0: grads_in}
        expected = differentiable if isinstance(grads_in, tuple | list) else [0]
        for i in differentiable:
            name = "input" if len(arrays) == 1 else f"input {i}"
            if given.get(i) is None:
                if i in expected:
                    raise GradcheckError(f"gradcheck: backward returned no gradient (None) for {name}")
                continue
            checks.append((name, arrays[i], np.asarray(given[i], dtype=np.float64)))
    checks += [(name, param.data, param.grad.astype(np.float64)) for name, param in params]

    worst: tuple[float, str, tuple[int, ...], float, float] | None = None
    for name, values, analytic in checks:
        if analytic.shape != values.shape:
            raise GradcheckError(f"gradcheck: the gradient of {name} has shape {analytic.shape}, expected "
                                 f"{values.shape}")
        if not np.isfinite(analytic).all():
            bad = [int(i) for i in np.argwhere(~np.isfinite(analytic))[0]]
            raise GradcheckError(f"gradcheck failed: the analytic gradient of {name}{bad} is "
                                 f"{analytic[tuple(bad)]} (NaN or inf)")
        numeric = np.zeros_like(analytic)
        flat = values.reshape(-1)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = objective()
            flat[k] = original - eps
            minus = objective()
            flat[k] = original
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        if not np.isfinite(numeric).all():
            bad = [int(i) for i in np.argwhere(~np.isfinite(numeric))[0]]
            raise GradcheckError(f"gradcheck failed: the numeric gradient of {name}{bad} is "
                                 f"{numeric[tuple(bad)]}: the function is not finite around this input")
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and excess.max() > 0:
            index = np.unravel_index(int(np.argmax(excess)), excess.shape)
            candidate = (float(excess[index]), name, tuple(int(i) for i in index), float(analytic[index]),
                         float(numeric[index]))
            if worst is None or candidate[0] > worst[0]:
                worst = candidate
    if worst is not None:
        _, name, where, analytic_value, numeric_value = worst
        raise GradcheckError(
            f"gradcheck failed: worst element is {name}{list(where)}: analytic {analytic_value:.10g} vs numeric "
            f"{numeric_value:.10g} (difference {abs(analytic_value - numeric_value):.3g}, allowed atol={atol} + "
            f"rtol={rtol} * |numeric|)"
        )
    return True
