"""Figure of the convolution warm-up: the exercise's image, the window at its top-left index, and the filter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnlab.plots.style import COLORS, WIDTH, save_figure

if TYPE_CHECKING:
    from cnnlab.experiments.warmup import WarmupResult


def _grid(ax: Any, values: np.ndarray, title: str, window: tuple[int, int, int, int] | None = None) -> None:
    """``values`` (h, w) as a grid of numbers; ``window`` (top, left, height, width) outlined."""
    h, w = values.shape
    ax.imshow(np.zeros_like(values), cmap="Greys", vmin=0, vmax=1)
    top, left, kh, kw = window if window is not None else (0, 0, 0, 0)
    for (i, j), v in np.ndenumerate(values):
        inside = top <= i < top + kh and left <= j < left + kw
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9, fontweight="bold" if inside else "normal",
                color=COLORS[3] if inside else "black")
    for k in range(h + 1):
        ax.axhline(k - 0.5, color="#d0d4dc", linewidth=0.8)
    for k in range(w + 1):
        ax.axvline(k - 0.5, color="#d0d4dc", linewidth=0.8)
    if window is not None:
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), kw, kh, fill=False, edgecolor=COLORS[3], linewidth=2))
    ax.set_xticks(range(w))
    ax.set_yticks(range(h))
    ax.tick_params(length=0, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)


def figures(result: WarmupResult, folder: Path) -> dict[str, Path]:
    """``window``: the simple example's image (both channels), its window at ``result.index``, the filter."""
    product = result.products[0]
    top, left = result.index
    kh, kw = product.kernel
    fig = Figure(figsize=(WIDTH, 2.9), layout="constrained")
    size = result.image.shape[-1]
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [size, size, kw + 1, kw + 1]})
    for c in range(2):
        _grid(axes[c], result.image[c], f"x, channel {c}", (top, left, kh, kw))
        _grid(axes[2 + c], result.kernel[c], f"filter f, channel {c}")
    fig.suptitle(f"The window with top-left corner {result.index}: Σ x·f over both channels = {product.single:g}",
                 fontsize=10)
    return {"window": save_figure(fig, Path(folder) / "warmup-window.png")}
