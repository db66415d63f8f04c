"""Assignment 004's pen-and-paper task worked in full: a 1-D cross-correlation, one forward pass, its loss, the backward
pass, one SGD step and the second forward pass — every step with its formula and its numbers.

The numbers are computed by the NumPy engine's :class:`~cnnlab.numpy_nn.Conv1d` (float64): its forward pass, its
hand-written backward pass and one :class:`~cnnlab.numpy_nn.SGD` step -- the layer's code implements exactly the
formulas below -- and they are cross-checked against the formulas written out in NumPy and against torch autograd
(``conv1d``) inside :func:`worked_example`; a disagreement raises. Indices are 1-based as in the assignment:

    ŷ_i      = Σ_k w_k · x_((i−1)·s + k) + b                     (cross-correlation: the kernel is not flipped)
    L        = ½ Σ_i (y_i − ŷ_i)²
    ∂L/∂ŷ_i  = ŷ_i − y_i
    ∂L/∂w_k  = Σ_i ∂L/∂ŷ_i · x_((i−1)·s + k)
    ∂L/∂b    = Σ_i ∂L/∂ŷ_i
    ∂L/∂x_j  = Σ_i ∂L/∂ŷ_i · w_(j − (i−1)·s)                      (over the windows that contain x_j)
    w_k′     = w_k − η · ∂L/∂w_k,   b′ = b − η · ∂L/∂b
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np

from cnnlab.experiments.base import Context, Experiment
from cnnlab.formatting import hand_number as num
from cnnlab.geometry import conv_output_size
from cnnlab.numpy_nn import SGD, Conv1d
from cnnlab.options import Validated, option

DEFAULTS: dict[str, Any] = {"x": (1.0, 2.0, 3.0, 4.0), "w": (2.0, 1.0, 3.0), "b": 1.0, "y": (2.0, 4.0), "lr": 0.01,
                            "stride": 1}

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class Step(NamedTuple):
    """One line of the worked solution: what is computed, its formula with the numbers put in, and the value."""

    name: str
    formula: str
    value: float
    phase: str


@dataclass
class Xcorr1dResult:
    """Inputs, every intermediate quantity and the ordered :class:`Step` list of the worked example."""

    x: list[float]
    w: list[float]
    b: float
    y: list[float]
    lr: float
    stride: int
    y_hat: list[float]
    loss: float
    grad_y_hat: list[float]
    grad_w: list[float]
    grad_b: float
    grad_x: list[float]
    w_new: list[float]
    b_new: float
    y_hat_new: list[float]
    loss_new: float
    #: Largest absolute difference between these numbers and torch autograd's (float64).
    torch_max_abs_diff: float
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``steps`` as a list of ``{phase, name, formula, value}``."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "steps"}
        data["steps"] = [step._asdict() for step in self.steps]
        return data


# ---------------------------------------------------------------------------------------------------------------------
# Validation and formatting
# ---------------------------------------------------------------------------------------------------------------------

def _vector(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"xcorr1d: {name} must be a non-empty 1-D list of numbers, got {values!r}")
    if not all(isinstance(v, Real | np.number) and not isinstance(v, bool | np.bool_) for v in array.tolist()):
        raise ValueError(f"xcorr1d: {name} must contain only numbers, got {values!r}")
    out = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"xcorr1d: {name} must contain only finite numbers, got {values!r}")
    return out


def _scalar(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"xcorr1d: {name} must be a finite number, got {value!r}")
    return float(value)


def _sub(symbol: str, index: int) -> str:
    return f"{symbol}{str(index).translate(_SUBSCRIPTS)}"


# ---------------------------------------------------------------------------------------------------------------------
# The computation (the engine's Conv1d) and its autograd cross-check
# ---------------------------------------------------------------------------------------------------------------------

def _windows(n_in: int, n_kernel: int, stride: int) -> np.ndarray:
    """``idx[i, k]``: 0-based position in x of the k-th tap of output i (rows are the sliding windows)."""
    n_out = conv_output_size(n_in, n_kernel, stride=stride)
    return np.arange(n_out)[:, None] * stride + np.arange(n_kernel)[None, :]


def _forward(x: np.ndarray, w: np.ndarray, b: float, idx: np.ndarray) -> np.ndarray:
    """``ŷ_i = Σ_k w_k · x[idx[i, k]] + b`` for every output ``i`` (the windows ``idx``: (outputs, kernel))."""
    return x[idx] @ w + b


def _layer(w: np.ndarray, b: float, stride: int) -> Conv1d:
    """A one-channel ``Conv1d`` (float64) holding the kernel ``w`` and the bias ``b``."""
    layer = Conv1d(1, 1, w.size, stride=stride, dtype=np.float64)
    layer.load_state_dict({"weight": w.reshape(1, 1, -1), "bias": np.array([b])})
    return layer


def _torch_reference(x: np.ndarray, w: np.ndarray, b: float, y: np.ndarray, lr: float, stride: int) -> dict:
    """The same quantities from ``torch.nn.functional.conv1d`` and autograd, in float64."""
    import torch

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor([b], dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64)
    y_hat = torch.nn.functional.conv1d(xt[None, None], wt[None, None], bt, stride=stride)[0, 0]
    loss = 0.5 * ((yt - y_hat) ** 2).sum()
    grad_x, grad_w, grad_b, grad_y_hat = torch.autograd.grad(loss, (xt, wt, bt, y_hat))
    with torch.no_grad():
        w_new = wt - lr * grad_w
        b_new = bt - lr * grad_b
        y_hat_new = torch.nn.functional.conv1d(xt[None, None], w_new[None, None], b_new, stride=stride)[0, 0]
        loss_new = 0.5 * ((yt - y_hat_new) ** 2).sum()
    return {"y_hat": y_hat.detach().numpy(), "loss": loss.item(), "grad_y_hat": grad_y_hat.numpy(),
            "grad_w": grad_w.numpy(), "grad_b": grad_b.item(), "grad_x": grad_x.numpy(),
            "w_new": w_new.numpy(), "b_new": b_new.item(), "y_hat_new": y_hat_new.numpy(), "loss_new": loss_new.item()}


def _formulas(xv: np.ndarray, wv: np.ndarray, b: float, yv: np.ndarray, lr: float,
              idx: np.ndarray) -> dict[str, Any]:
    """Forward, loss, backward, update, second forward -- each line is the formula in the module docstring."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _check_finite, not warned about
        y_hat = _forward(xv, wv, b, idx)
        loss = 0.5 * float(np.sum((yv - y_hat) ** 2))
        grad_y_hat = y_hat - yv
        grad_w = xv[idx].T @ grad_y_hat
        grad_b = float(np.sum(grad_y_hat))
        grad_x = np.zeros_like(xv)
        np.add.at(grad_x, idx, grad_y_hat[:, None] * wv[None, :])
        w_new = wv - lr * grad_w
        b_new = b - lr * grad_b
        y_hat_new = _forward(xv, w_new, b_new, idx)
        loss_new = 0.5 * float(np.sum((yv - y_hat_new) ** 2))
    return {"y_hat": y_hat, "loss": loss, "grad_y_hat": grad_y_hat, "grad_w": grad_w, "grad_b": grad_b,
            "grad_x": grad_x, "w_new": w_new, "b_new": b_new, "y_hat_new": y_hat_new, "loss_new": loss_new}


_QUANTITIES = {"y_hat": "the output ŷ", "loss": "the loss L", "grad_y_hat": "∂L/∂ŷ", "grad_w": "∂L/∂w",
               "grad_b": "∂L/∂b", "grad_x": "∂L/∂x", "w_new": "the updated kernel w′", "b_new": "the updated bias b′",
               "y_hat_new": "the second output ŷ′", "loss_new": "the second loss L′"}


def _engine(xv: np.ndarray, wv: np.ndarray, b: float, yv: np.ndarray, lr: float, stride: int) -> dict[str, Any]:
    """The same quantities from the engine's Conv1d on the batch of one signal ``(1, 1, len(x))``: forward,
    hand-written backward, one SGD step, second forward."""
    layer = _layer(wv, b, stride)
    signal = xv.reshape(1, 1, -1)
    y_hat = layer(signal)[0, 0]
    loss = 0.5 * float(np.sum((yv - y_hat) ** 2))
    grad_y_hat = y_hat - yv
    grad_signal = layer.backward(grad_y_hat.reshape(1, 1, -1))
    assert grad_signal is not None  # need_input_grad is true
    grad_x = grad_signal[0, 0]
    grad_w, grad_b = layer.weight.grad.ravel().copy(), float(layer.bias.grad[0])
    SGD(layer.parameters(), lr=lr).step()
    w_new, b_new = layer.weight.data.ravel().copy(), float(layer.bias.data[0])
    y_hat_new = layer(signal)[0, 0]
    loss_new = 0.5 * float(np.sum((yv - y_hat_new) ** 2))
    return {"y_hat": y_hat, "loss": loss, "grad_y_hat": grad_y_hat, "grad_w": grad_w, "grad_b": grad_b,
            "grad_x": grad_x, "w_new": w_new, "b_new": b_new, "y_hat_new": y_hat_new, "loss_new": loss_new}


def _check_finite(values: dict[str, Any]) -> None:
    """``ValueError`` naming the first quantity that overflowed float64 (the numbers are too large)."""
    for name, value in values.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"xcorr1d: {_QUANTITIES[name]} overflows float64 ({name} = "
                             f"{np.asarray(value).tolist()}): the inputs are too large for the worked example; use "
                             "smaller x, w, b, y or lr")


def _cross_check(ours: dict[str, Any], reference: dict[str, Any], what: str) -> float:
    """Largest absolute difference of the engine's numbers from ``reference`` (computed by ``what``); raises
    ``RuntimeError`` naming the first quantity that disagrees."""
    worst = 0.0
    for name, mine in ours.items():
        theirs = np.asarray(reference[name], dtype=np.float64)
        mine = np.asarray(mine, dtype=np.float64)
        if (mine.shape != theirs.shape or not np.isfinite(theirs).all()
                or not np.allclose(mine, theirs, rtol=1e-9, atol=1e-9)):
            raise RuntimeError(f"xcorr1d: the engine's Conv1d and {what} disagree on {name}: "
                               f"{mine.tolist()} (Conv1d) vs {theirs.tolist()} ({what})")
        worst = max(worst, float(np.max(np.abs(mine - theirs))) if mine.size else 0.0)
    return worst


def _checked(x: Any, w: Any, b: Any, y: Any, lr: Any,
             stride: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, int, np.ndarray, dict[str, Any]]:
    """The inputs as float64 arrays and numbers, the window index ``idx`` and every quantity of the worked example
    from the written-out formulas (:func:`_formulas`) -- or ``ValueError`` naming the
    problem (empty or non-numeric vectors, a kernel longer than the input, a stride below 1, a ``y`` whose length
    is not the number of outputs, a learning rate that is not positive, numbers so large that a quantity of the
    worked example overflows float64)."""
    xv, wv, yv = _vector(x, "x"), _vector(w, "w"), _vector(y, "y")
    b, lr = _scalar(b, "b"), _scalar(lr, "lr")
    if lr <= 0:
        raise ValueError(f"xcorr1d: the learning rate lr must be positive, got {lr}")
    if isinstance(stride, bool) or not isinstance(stride, Integral) or stride < 1:
        raise ValueError(f"xcorr1d: stride must be an integer >= 1, got {stride!r}")
    stride = int(stride)
    if wv.size > xv.size:
        raise ValueError(f"xcorr1d: the kernel w (length {wv.size}) is longer than the input x (length {xv.size}); "
                         "without padding there is no position where it fits")
    idx = _windows(xv.size, wv.size, stride)
    n_out = idx.shape[0]
    if yv.size != n_out:
        raise ValueError(f"xcorr1d: y must have one target per output: input {xv.size}, kernel {wv.size}, stride "
                         f"{stride} give floor(({xv.size} − {wv.size}) / {stride}) + 1 = {n_out} outputs, "
                         f"got y of length {yv.size}")
    formulas = _formulas(xv, wv, b, yv, lr, idx)
    _check_finite(formulas)
    return xv, wv, yv, b, lr, stride, idx, formulas


def worked_example(
    x: Sequence[float] = DEFAULTS["x"],
    w: Sequence[float] = DEFAULTS["w"],
    b: float = DEFAULTS["b"],
    y: Sequence[float] = DEFAULTS["y"],
    lr: float = DEFAULTS["lr"],
    stride: int = DEFAULTS["stride"],
) -> Xcorr1dResult:
    """Work assignment 004's task for input ``x``, kernel ``w``, bias ``b``, targets ``y``, learning rate ``lr`` and
    ``stride`` (no padding). Defaults: the assignment's numbers.

    Raises ``ValueError`` for bad input (see :func:`_checked`) and ``RuntimeError`` should the engine's Conv1d
    ever disagree with the formulas or with torch autograd.
    """
    xv, wv, yv, b, lr, stride, idx, formulas = _checked(x, w, b, y, lr, stride)
    ours = _engine(xv, wv, b, yv, lr, stride)
    _cross_check(ours, formulas, "the formulas")
    diff = _cross_check(ours, _torch_reference(xv, wv, b, yv, lr, stride), "torch autograd")
    result = Xcorr1dResult(
        x=xv.tolist(), w=wv.tolist(), b=b, y=yv.tolist(), lr=lr, stride=stride, y_hat=ours["y_hat"].tolist(),
        loss=ours["loss"], grad_y_hat=ours["grad_y_hat"].tolist(), grad_w=ours["grad_w"].tolist(),
        grad_b=ours["grad_b"], grad_x=ours["grad_x"].tolist(), w_new=ours["w_new"].tolist(), b_new=ours["b_new"],
        y_hat_new=ours["y_hat_new"].tolist(), loss_new=ours["loss_new"], torch_max_abs_diff=diff,
    )
    result.steps = _steps(result, idx)
    return result


def _steps(r: Xcorr1dResult, idx: np.ndarray) -> list[Step]:
    """The worked solution line by line: symbols, then the same with the numbers put in, then the value."""
    steps: list[Step] = []
    n_out, n_kernel = idx.shape

    def forward(phase: str, w: list[float], b: float, y_hat: list[float], prime: str) -> None:
        for i in range(n_out):
            taps = [(k, int(idx[i, k])) for k in range(n_kernel)]
            symbols = " + ".join(f"{_sub('w', k + 1)}{prime}·{_sub('x', j + 1)}" for k, j in taps) + f" + b{prime}"
            numbers = " + ".join(f"{num(w[k])}·{num(r.x[j])}" for k, j in taps) + f" + {num(b)}"
            steps.append(Step(_sub("ŷ", i + 1) + prime, f"{symbols} = {numbers}", y_hat[i], phase))

    def loss(phase: str, y_hat: list[float], value: float, prime: str) -> None:
        symbols = " + ".join(f"({_sub('y', i + 1)} − {_sub('ŷ', i + 1)}{prime})²" for i in range(n_out))
        numbers = " + ".join(f"({num(r.y[i])} − {num(y_hat[i])})²" for i in range(n_out))
        steps.append(Step("L" + prime, f"½·({symbols}) = ½·({numbers})", value, phase))

    forward("forward", r.w, r.b, r.y_hat, "")
    loss("loss", r.y_hat, r.loss, "")
    for i in range(n_out):
        steps.append(Step(f"∂L/∂{_sub('ŷ', i + 1)}", f"{_sub('ŷ', i + 1)} − {_sub('y', i + 1)} = "
                          f"{num(r.y_hat[i])} − {num(r.y[i])}", r.grad_y_hat[i], "backward"))
    for k in range(n_kernel):
        symbols = " + ".join(f"∂L/∂{_sub('ŷ', i + 1)}·{_sub('x', int(idx[i, k]) + 1)}" for i in range(n_out))
        numbers = " + ".join(f"{num(r.grad_y_hat[i])}·{num(r.x[int(idx[i, k])])}" for i in range(n_out))
        steps.append(Step(f"∂L/∂{_sub('w', k + 1)}", f"{symbols} = {numbers}", r.grad_w[k], "backward"))
    steps.append(Step("∂L/∂b", " + ".join(f"∂L/∂{_sub('ŷ', i + 1)}" for i in range(n_out)) + " = "
                      + " + ".join(num(g) for g in r.grad_y_hat), r.grad_b, "backward"))
    for j in range(len(r.x)):
        uses = [(i, k) for i in range(n_out) for k in range(n_kernel) if idx[i, k] == j]
        if uses:
            symbols = " + ".join(f"∂L/∂{_sub('ŷ', i + 1)}·{_sub('w', k + 1)}" for i, k in uses)
            numbers = " + ".join(f"{num(r.grad_y_hat[i])}·{num(r.w[k])}" for i, k in uses)
            formula = f"{symbols} = {numbers}"
        else:
            formula = f"0 ({_sub('x', j + 1)} lies in no window)"
        steps.append(Step(f"∂L/∂{_sub('x', j + 1)}", formula, r.grad_x[j], "backward"))
    for k in range(n_kernel):
        w_k = _sub("w", k + 1)
        steps.append(Step(w_k + "′", f"{w_k} − η·∂L/∂{w_k} = {num(r.w[k])} − {num(r.lr)}·{num(r.grad_w[k])}",
                          r.w_new[k], "update"))
    steps.append(Step("b′", f"b − η·∂L/∂b = {num(r.b)} − {num(r.lr)}·{num(r.grad_b)}", r.b_new, "update"))
    forward("second forward", r.w_new, r.b_new, r.y_hat_new, "′")
    loss("second forward", r.y_hat_new, r.loss_new, "′")
    return steps


@dataclass(frozen=True)
class Xcorr1dSettings(Validated):
    """The pen-and-paper task's numbers (the assignment's by default), checked on construction."""

    x: tuple[float, ...] = option(DEFAULTS["x"], "Input vector.", metavar="X1,X2,...")
    w: tuple[float, ...] = option(DEFAULTS["w"], "Kernel (not flipped: cross-correlation).", metavar="W1,W2,...")
    b: float = option(DEFAULTS["b"], "Scalar bias.")
    y: tuple[float, ...] = option(DEFAULTS["y"], "Targets, one per output.", metavar="Y1,Y2,...")
    lr: float = option(DEFAULTS["lr"], "Learning rate of the update.")
    stride: int = option(DEFAULTS["stride"], "Stride (no padding).")

    def check(self) -> None:
        _checked(self.x, self.w, self.b, self.y, self.lr, self.stride)


def run(settings: Xcorr1dSettings, context: Context) -> Xcorr1dResult:
    """The worked example for ``settings`` (see :func:`worked_example`)."""
    return worked_example(settings.x, settings.w, settings.b, settings.y, settings.lr, settings.stride)


EXPERIMENT = Experiment("xcorr1d", "Worked example: 1-D cross-correlation forward and backward (assignment 004, "
                        "pen and paper)", "Assignment 004's pen-and-paper task: 1-D cross-correlation forward, loss, "
                        "backward, update, second forward.", Xcorr1dSettings, run)
