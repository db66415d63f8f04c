"""Figures of the feature-map experiment (assignment 000 task 3.3): the feature-map grid and the first-layer filters.

``*_figure`` functions return a :class:`matplotlib.figure.Figure` (for notebooks); ``plot_*`` save it as a PNG
and return the path; :func:`save_figures` writes both into a folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from cnnlab.plots.style import save_figure

if TYPE_CHECKING:
    from cnnlab.experiments.featuremaps import FeatureMapsResult, FeatureMapsRun

#: Colour map of the (normalised) feature maps.
MAP_CMAP = "viridis"


def normalize_filters(weight: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Each filter ``weight[o]`` (all its input channels together) min-max scaled to [0, 1] for display.

    Scaling the channels of a filter jointly keeps its colour balance: an RGB filter shows which colour it prefers.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"filters must be (out, in, kh, kw), got shape {w.shape}")
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    out = np.where(span > eps, (w - lo) / np.where(span > eps, span, 1.0), 0.0)
    return out.astype(np.float32)


def _as_display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A (C, H, W) image in [0, 1] as something imshow draws: (H, W, 3) for RGB, (H, W) with a grey map else."""
    if image.shape[0] == 3:
        return np.clip(np.transpose(image, (1, 2, 0)), 0, 1), None
    if image.shape[0] == 1:
        return image[0], "gray"
    return image.mean(axis=0), "gray"


def _blank(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def layer_figure(result: FeatureMapsResult, index: int, *, cell: float = 1.45) -> Figure:
    """One layer's maps: a row per image (its input first, labelled with the class and the prediction), a column
    per channel; every map normalised to [0, 1] on its own (the assignment's Figure 1 layout, large enough to read)."""
    layer = result.layers[index]
    n_images, n_channels = result.images.shape[0], len(layer.channels)
    label_width = 1.35
    width = label_width + cell * (n_channels + 1) + 0.2
    height = cell * n_images + 0.75
    fig = Figure(figsize=(width, height))
    grid = fig.add_gridspec(n_images, n_channels + 1, hspace=0.12, wspace=0.06, left=label_width / width,
                            right=1 - 0.1 / width, top=1 - 0.62 / height, bottom=0.1 / height)
    for n in range(n_images):
        ax = fig.add_subplot(grid[n, 0])
        _blank(ax)
        image, cmap = _as_display(result.images[n])
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel(result.image_title(n), rotation=0, ha="right", va="center", fontsize=8, labelpad=6)
        if n == 0:
            ax.set_title("input", fontsize=8)
        for c_index, channel in enumerate(layer.channels):
            ax = fig.add_subplot(grid[n, c_index + 1])
            _blank(ax)
            ax.imshow(layer.maps[n, c_index], cmap=MAP_CMAP, vmin=0, vmax=1, interpolation="nearest")
            if layer.constant[n, c_index]:
                ax.text(0.5, 0.5, "constant", color="white", fontsize=7, ha="center", va="center",
                        transform=ax.transAxes)
            if n == 0:
                ax.set_title(f"channel {channel}", fontsize=8)
    size = " x ".join(str(v) for v in layer.shape[1:])
    fig.suptitle(f"{layer.name} ({layer.kind}), output {size}: the first {n_channels} channels, each map scaled "
                 "to [0, 1] on its own", fontsize=9, y=1 - 0.12 / height, va="top")
    return fig


def filters_figure(result: FeatureMapsResult, *, columns: int = 8, cell: float = 1.0) -> Figure:
    """The first convolution's filters, each scaled to [0, 1] on its own; RGB filters as colour images."""
    w = normalize_filters(result.filters)
    n = w.shape[0]
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(cell * columns + 0.4, cell * rows + 0.8), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, columns, squeeze=False))
    for index, ax in enumerate(axes.ravel()):
        _blank(ax)
        if index >= n:
            ax.set_visible(False)
            continue
        image, cmap = _as_display(w[index])
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"filter {index}", fontsize=8)
    in_ch = result.filters.shape[1]
    how = "RGB" if in_ch == 3 else ("grey" if in_ch == 1 else f"mean of {in_ch} input channels")
    fig.suptitle(f"{result.filter_layer}: {n} learned filters {result.filters.shape[2]}x{result.filters.shape[3]} "
                 f"({how}), each scaled to [0, 1]", fontsize=10)
    return fig


def plot_filters(result: FeatureMapsResult, path: str | Path) -> Path:
    """Save :func:`filters_figure` as a PNG at ``path``."""
    return save_figure(filters_figure(result), path)


def save_figures(result: FeatureMapsResult, out_dir: str | Path, prefix: str = "featuremaps") -> dict[str, Path]:
    """Every figure into ``out_dir``: ``maps-<layer>`` (one per shown layer, in network order) and ``filters``."""
    out_dir = Path(out_dir)
    paths = {f"maps-{layer.name}": save_figure(layer_figure(result, index), out_dir / f"{prefix}_{layer.name}.png")
             for index, layer in enumerate(result.layers)}
    paths["filters"] = plot_filters(result, out_dir / f"{prefix}_filters.png")
    return paths


def figures(result: FeatureMapsRun, folder: Path) -> dict[str, Path]:
    """The experiment's figures: :func:`save_figures` of its maps into ``folder``."""
    return save_figures(result.maps, folder)
