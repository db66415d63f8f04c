"""Figures of the equivariance experiment (assignment 004 task 6).

- :func:`curves_figure`: validation accuracy against shift (right, down, diagonal) for every model;
- :func:`layers_figure`: per CNN layer, the equivariance error on the full map and on the interior, and the
  change ``||f(Tx) - f(x)|| / ||f(x)||`` (the only comparison at the logits), one panel per input shift;
- :func:`example_figure`: an image, its shifted version, each convolution's maps of both, the shifted maps of the
  original, and where they differ.

``plot_*`` save a PNG and return its path; :func:`save_figures` writes all three into a folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter

from cnnlab.plots.style import COLORS, ROW_HEIGHT, WIDTH, new_figure, save_figure

if TYPE_CHECKING:
    from cnnlab.experiments.equivariance import EquivarianceResult

#: Smallest value drawn on the log axes (an exact zero cannot be drawn on a log scale).
LOG_FLOOR = 1e-9


def curves_figure(result: EquivarianceResult) -> Figure:
    """Accuracy (%) against shift (px), one panel per direction, one line per model."""
    directions = list(dict.fromkeys(c.direction for c in result.curves))
    fig, axes = new_figure(1, len(directions), width=WIDTH, height=ROW_HEIGHT)
    models = list(dict.fromkeys(c.model for c in result.curves))
    s = result.settings
    for ax, direction in zip(axes[0], directions, strict=True):
        for index, model in enumerate(models):
            c = result.curve(model, direction)
            ax.plot(c.shifts, c.accuracy, marker="o", ms=4, color=COLORS[index % len(COLORS)],
                    label=result.labels.get(model, model))
        if "mlp_augmented" in models:
            ax.axvline(s.augment_shift, color="grey", ls=":", lw=1,
                       label=f"±{s.augment_shift} px: augmentation range")
        ax.set_title({"right": "shift right (dx)", "down": "shift down (dy)",
                      "diagonal": "shift right and down (dx = dy)"}.get(direction, direction), fontsize=10)
        ax.set_xlabel("shift (px)")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0][0].set_ylabel("validation accuracy")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Accuracy against shift ({result.n_val} validation images)", fontsize=11)
    return fig


def _value_label(v: float) -> str:
    if v == 0:
        return "0"
    if v < 1e-3:
        return f"{v:.0e}"
    return f"{v:.1%}" if v < 0.1 else f"{v:.0%}"


def layers_figure(result: EquivarianceResult, model: str = "cnn") -> Figure:
    """Grouped bars per layer: equivariance error on the full map, on the interior, and the change
    ``||f(Tx) - f(x)|| / ||f(x)||``; one panel per input shift, log scale (0 drawn at the floor)."""
    measurements = result.layers.get(model, [])
    if not measurements:
        raise ValueError(f"layers_figure: no per-layer measurements for model {model!r}")
    shifts = list(dict.fromkeys(tuple(m.shift) for m in measurements))
    fig, axes = new_figure(1, len(shifts), width=WIDTH, height=ROW_HEIGHT + 0.4)
    series = (("full", "equivariance error, full map", COLORS[0]),
              ("interior", "equivariance error, interior", COLORS[2]),
              ("invariance", "change ||f(Tx) - f(x)|| / ||f(x)||", COLORS[7]))
    for ax, d in zip(axes[0], shifts, strict=True):
        ms = [m for m in measurements if tuple(m.shift) == d]
        positions = np.arange(len(ms))
        width = 0.26
        for offset, (attr, label, color) in enumerate(series):
            values = np.array([getattr(m, attr) for m in ms], dtype=float)
            drawn = np.where(np.isnan(values), np.nan, np.maximum(values, LOG_FLOOR))
            xs = positions + (offset - 1) * width
            ax.bar(xs, drawn, width, color=color, label=label)
            for x, v in zip(xs, values, strict=True):
                if not math.isnan(v):
                    ax.text(x, max(v, LOG_FLOOR) * 1.3, _value_label(v), ha="center", va="bottom", fontsize=6,
                            rotation=90)
        ax.set_yscale("log")
        ax.set_ylim(LOG_FLOOR / 3, 30)
        labels = []
        for m in ms:
            if m.expected_shift is None:
                labels.append(f"{m.layer}\n(output)" if m.is_output else m.layer)
            else:
                k = f"{m.expected_shift[0]:g},{m.expected_shift[1]:g}"
                labels.append(f"{m.layer}\nk = {k}" + ("" if m.whole else "\n(not whole)"))
        ax.set_xticks(positions, labels, fontsize=7)
        ax.set_title(f"input shifted {d[0]} px right, {d[1]} px down", fontsize=10)
    axes[0][0].set_ylabel("relative distance (log; 0 drawn at the floor)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{result.labels.get(model, model)}: how far each layer is from equivariance "
                 "(k: the shift its map should show)", fontsize=11)
    return fig


def example_figure(result: EquivarianceResult, channels: int = 3) -> Figure:
    """Top row: the image, the shifted image, their difference. Then, for the first ``channels`` channels of each
    convolution of the example: its map for the image, for the shifted image, the map of the image moved by the
    shift the layer should show (T'), and the absolute difference (dashed box: the interior crop)."""
    examples = result.examples
    if not examples:
        raise ValueError("example_figure: the result has no example (no CNN was measured)")
    first = examples[0]
    per_layer = [min(channels, ex.maps.shape[0]) for ex in examples]
    rows = 1 + sum(per_layer)
    cols = 4
    fig = Figure(figsize=(1.9 * cols + 1.2, 1.9 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].imshow(first.image, cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("image x", fontsize=9)
    axes[0, 1].imshow(first.shifted, cmap="gray", vmin=0, vmax=1)
    axes[0, 1].set_title(f"T x: shifted {first.shift[0]},{first.shift[1]} px", fontsize=9)
    axes[0, 2].imshow(np.abs(first.shifted - first.image), cmap="magma")
    axes[0, 2].set_title("|T x - x|", fontsize=9)
    axes[0, 3].set_visible(False)
    row = 1
    for ex, k in zip(examples, per_layer, strict=True):
        diff = np.abs(ex.shifted_maps - ex.expected_maps)
        shift_text = f"{ex.feature_shift[0]},{ex.feature_shift[1]}"
        if not ex.whole:
            shift_text += f"\n(should be {ex.expected_shift[0]:g},{ex.expected_shift[1]:g}: not whole)"
        titles = (f"{ex.layer}(x)", f"{ex.layer}(T x)", f"T' {ex.layer}(x), T' = {shift_text}",
                  f"|{ex.layer}(T x) - T' {ex.layer}(x)|")
        y0, y1, x0, x1 = ex.interior
        for c in range(k):
            lo = float(min(ex.maps[c].min(), ex.shifted_maps[c].min()))
            hi = float(max(ex.maps[c].max(), ex.shifted_maps[c].max()))
            for col, image in enumerate((ex.maps[c], ex.shifted_maps[c], ex.expected_maps[c])):
                axes[row, col].imshow(image, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
            axes[row, 3].imshow(diff[c], cmap="magma", vmin=0, vmax=max(hi - lo, 1e-12), interpolation="nearest")
            if y1 > y0 and x1 > x0:
                axes[row, 3].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="white",
                                                 ls="--", lw=1))
            axes[row, 0].set_ylabel(f"{ex.layer}\nchannel {c}", fontsize=9)
            if c == 0:
                for col, title in enumerate(titles):
                    axes[row, col].set_title(title, fontsize=8)
            row += 1
    fig.suptitle("Shift equivariance, one image: colours on one scale per row (the difference on the row's range)",
                 fontsize=10)
    return fig


def plot_curves(result: EquivarianceResult, path: str | Path) -> Path:
    return save_figure(curves_figure(result), path)


def plot_layers(result: EquivarianceResult, path: str | Path, model: str = "cnn") -> Path:
    return save_figure(layers_figure(result, model), path)


def plot_example(result: EquivarianceResult, path: str | Path) -> Path:
    return save_figure(example_figure(result), path)


def shifted_samples_figure(result: EquivarianceResult) -> Figure:
    """The exercise's picture: the first validation images (top) above their shifted copies (bottom)."""
    n = len(result.sample_labels)
    if n == 0:
        raise ValueError("shifted_samples_figure: the result holds no sample images")
    fig = Figure(figsize=(1.6 * n + 0.6, 3.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(2, n, squeeze=False))
    dx, dy = result.settings.shift
    for column in range(n):
        for row, (images, what) in enumerate(((result.samples, "original"), (result.shifted_samples,
                                                                              f"shifted {dx},{dy} px"))):
            ax = axes[row, column]
            ax.imshow(images[column, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{what}: {result.sample_labels[column]}", fontsize=8)
    fig.suptitle(f"Validation digits and the same digits moved {dx} px right and {dy} px down", fontsize=10)
    return fig


def save_figures(result: EquivarianceResult, out_dir: str | Path, prefix: str = "equivariance") -> dict[str, Path]:
    """All figures into ``out_dir``; returns ``{"samples", "curves", "layers", "example"}`` paths; figures that
    need a missing part (no CNN) are left out."""
    out_dir = Path(out_dir)
    paths = {"samples": save_figure(shifted_samples_figure(result), out_dir / f"{prefix}_shifted_samples.png")}
    paths["curves"] = plot_curves(result, out_dir / f"{prefix}_accuracy_vs_shift.png")
    if "cnn" in result.layers:
        paths["layers"] = plot_layers(result, out_dir / f"{prefix}_layers.png")
    if result.example is not None:
        paths["example"] = plot_example(result, out_dir / f"{prefix}_example.png")
    return paths


def figures(result: EquivarianceResult, folder: Path) -> dict[str, Path]:
    """The experiment's figures (:func:`save_figures`) into ``folder``."""
    return save_figures(result, folder)
