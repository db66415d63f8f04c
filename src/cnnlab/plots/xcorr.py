"""The 1-D cross-correlation drawn: the kernel sliding over the input, one row per output position."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Rectangle

from cnnlab.geometry import conv_output_size
from cnnlab.plots.style import COLORS, new_figure, save_figure

if TYPE_CHECKING:
    from cnnlab.experiments.xcorr1d import Xcorr1dResult

#: Longest input drawn; beyond this the cells get too small to read.
MAX_CELLS = 40
#: Output positions drawn; further rows are summarised in one line.
MAX_ROWS = 8


def _label(value: float) -> str:
    return f"{float(value):.4g}"


def plot_xcorr1d(x: Sequence[float], w: Sequence[float], b: float, y_hat: Sequence[float], path: str | Path, *,
                 stride: int = 1) -> Path:
    """Draw ``ŷ_i = Σ_k w_k · x_((i−1)·s+k) + b``: for each output i the input row with its window highlighted,
    the kernel weights under the window and the output value at the right. Saved as a PNG at ``path``.

    Raises ``ValueError`` for empty vectors, a kernel longer than the input, a stride below 1, a ``y_hat`` whose
    length does not match the windows, or an input longer than :data:`MAX_CELLS`.
    """
    xv, wv, outputs = (np.asarray(v, dtype=float).ravel() for v in (x, w, y_hat))
    if xv.size == 0 or wv.size == 0:
        raise ValueError("plot_xcorr1d: x and w must be non-empty")
    if xv.size > MAX_CELLS:
        raise ValueError(f"plot_xcorr1d: an input of {xv.size} values is too long to draw (at most {MAX_CELLS})")
    if wv.size > xv.size:
        raise ValueError(f"plot_xcorr1d: the kernel (length {wv.size}) is longer than the input (length {xv.size})")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"plot_xcorr1d: stride must be an integer >= 1, got {stride!r}")
    n_out = conv_output_size(xv.size, wv.size, stride=int(stride))
    if outputs.size != n_out:
        raise ValueError(f"plot_xcorr1d: expected {n_out} outputs for input {xv.size}, kernel {wv.size}, stride "
                         f"{stride}; got y_hat of length {outputs.size}")
    rows = min(n_out, MAX_ROWS)
    bottom = -(rows - 1) * 2.4 - 2.1 - (0.9 if rows < n_out else 0)  # data units: one cell is 1 x 1
    left, right, top_edge = -0.3, xv.size + 4.6, 1.1
    cell = min(0.55, 8.0 / (right - left))  # inches per data unit, so that the figure fits the report's width
    fontsize = 9 if cell >= 0.4 else 7
    fig, axes = new_figure(1, 1, width=cell * (right - left) + 0.2, height=cell * (top_edge - bottom) + 0.2)
    ax = axes[0, 0]
    ax.set_axis_off()
    ax.grid(False)
    for r in range(rows):
        top = -r * 2.4
        start = r * int(stride)
        for j, value in enumerate(xv):
            inside = start <= j < start + wv.size
            ax.add_patch(Rectangle((j, top - 1), 1, 1, facecolor="#cfe0f5" if inside else "white",
                                   edgecolor=COLORS[0] if inside else "#999999", linewidth=1.2 if inside else 0.8))
            ax.text(j + 0.5, top - 0.5, _label(value), ha="center", va="center", fontsize=fontsize)
        for k, weight in enumerate(wv):
            ax.add_patch(Rectangle((start + k + 0.08, top - 1.95), 0.84, 0.84, facecolor="#fde3c8",
                                   edgecolor=COLORS[1], linewidth=0.8))
            ax.text(start + k + 0.5, top - 1.53, _label(weight), ha="center", va="center", fontsize=fontsize - 1)
        ax.text(xv.size + 0.4, top - 1.0, f"→  ŷ{r + 1} = {_label(outputs[r])}", ha="left", va="center",
                fontsize=fontsize)
    ax.text(-0.2, 0.35, f"x (input), w (kernel, below the window), b = {_label(b)}, stride {int(stride)}",
            ha="left", va="bottom", fontsize=fontsize, color="#444444")
    if rows < n_out:
        ax.text(-0.2, bottom + 0.6, f"… {n_out - rows} more output positions not drawn", ha="left", va="top",
                fontsize=fontsize, color="#444444")
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top_edge)
    ax.set_aspect("equal")
    return save_figure(fig, path)


def figures(result: Xcorr1dResult, folder: Path) -> dict[str, Path]:
    """The sliding-window diagram of the first forward pass as ``xcorr1d.png`` in ``folder`` (none for inputs too
    long to draw legibly: see :data:`MAX_CELLS`)."""
    if len(result.x) > MAX_CELLS:
        return {}
    return {"windows": plot_xcorr1d(result.x, result.w, result.b, result.y_hat, Path(folder) / "xcorr1d.png",
                                    stride=result.stride)}
