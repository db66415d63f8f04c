"""Report section of the 1-D cross-correlation worked example: the formulas, then every step with its numbers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.formatting import hand_number as num
from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.xcorr1d import Xcorr1dResult

#: The general formulas (1-based indices, s = stride, η = learning rate).
GENERAL_FORMULAS = (
    (r"\(\hat{y}_i\)", r"\(\hat{y}_i = \sum_k w_k \, x_{(i-1)s+k} + b\)"),
    (r"\(L\)", r"\(L = \frac{1}{2} \sum_i (y_i - \hat{y}_i)^2\)"),
    (r"\(\partial L / \partial \hat{y}_i\)", r"\(\frac{\partial L}{\partial \hat{y}_i} = \hat{y}_i - y_i\)"),
    (r"\(\partial L / \partial w_k\)",
     r"\(\frac{\partial L}{\partial w_k} = \sum_i \frac{\partial L}{\partial \hat{y}_i} \, x_{(i-1)s+k}\)"),
    (r"\(\partial L / \partial b\)",
     r"\(\frac{\partial L}{\partial b} = \sum_i \frac{\partial L}{\partial \hat{y}_i}\)"),
    (r"\(\partial L / \partial x_j\)",
     r"\(\frac{\partial L}{\partial x_j} = \sum_i \frac{\partial L}{\partial \hat{y}_i} \, w_{j-(i-1)s}\) "
     "(over the windows that contain x_j)"),
    (r"\(w_k', b'\)",
     r"\(w_k' = w_k - \eta \frac{\partial L}{\partial w_k}, \; b' = b - \eta \frac{\partial L}{\partial b}\)"),
)
PHASES = ("forward", "loss", "backward", "update", "second forward")
CAPTIONS = {"windows": "Sliding the kernel over the input: each row is one output position; the highlighted cells "
                       "are the window, the kernel weights stand below them."}


def _vector_text(values: Sequence[float]) -> str:
    return "[" + ", ".join(num(v, paren=False) for v in values) + "]"


def section(result: Xcorr1dResult, figures: dict[str, Path]) -> Section:
    """The general formulas, then one table per phase with every step's formula, numbers and value."""
    tables = [Table(["quantity", "formula"], [list(row) for row in GENERAL_FORMULAS],
                    caption="The formulas (1-based indices, s = stride, η = learning rate)")]
    for phase in PHASES:
        rows = [[step.name, step.formula, num(step.value, paren=False)] for step in result.steps
                if step.phase == phase]
        if rows:
            tables.append(Table(["quantity", "formula with the numbers", "value"], rows, caption=phase.capitalize()))
    change = "fell" if result.loss_new < result.loss else "rose" if result.loss_new > result.loss else "stayed"
    paragraphs = [
        f"Result: ŷ = {_vector_text(result.y_hat)}, L = {num(result.loss)}; ∂L/∂w = {_vector_text(result.grad_w)}, "
        f"∂L/∂b = {num(result.grad_b, paren=False)}; after one step with η = {num(result.lr)}: w′ = "
        f"{_vector_text(result.w_new)}, b′ = {num(result.b_new, paren=False)}, ŷ′ = "
        f"{_vector_text(result.y_hat_new)}, and the loss {change} from {num(result.loss)} to "
        f"{num(result.loss_new)}.",
        "The gradient of w is itself a cross-correlation: of the input x with the output gradient ∂L/∂ŷ (dilated by "
        "the stride); the gradient of x is a full convolution of ∂L/∂ŷ with w. That is why a convolution layer's "
        "backward pass is built from convolutions too.",
        f"Cross-check: the same quantities from torch autograd (conv1d, float64) differ from these by at most "
        f"{result.torch_max_abs_diff:.2g}.",
    ]
    return Section(
        intro=("A kernel slides over the input without padding and without flipping (cross-correlation). One "
               "forward pass, the loss L = ½‖y − ŷ‖², the backward pass, one gradient step and a second forward "
               "pass, each with its formula and its numbers."),
        paragraphs=paragraphs, tables=tables,
        figures=[Figure(Path(path), CAPTIONS.get(key, "")) for key, path in figures.items()],
        settings={"x": result.x, "w": result.w, "b": result.b, "y": result.y, "lr": result.lr,
                  "stride": result.stride},
    )
