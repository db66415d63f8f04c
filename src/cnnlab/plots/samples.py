"""A grid of sample images with their class names (assignment 004's ``plot_mnist``, for MNIST and CIFAR-10 alike)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.geometry import channel_hint
from cnnlab.plots.style import new_figure, save_figure


def _check_images(images: Any) -> np.ndarray:
    """``images`` as an ``(N, C, H, W)`` array with C 1 or 3 and values in 0..255 (ints) or [0, 1] (floats)."""
    array = np.asarray(images)
    shape = tuple(array.shape)
    if array.ndim != 4:
        hint = ""
        if array.ndim == 3:
            hint = " For grayscale images without a channel axis use x[:, None]; for one image use x[None]."
        elif array.ndim == 2:
            hint = " Flattened images? Reshape to (N, C, H, W) first, e.g. x.reshape(-1, 1, 28, 28) for MNIST."
        raise ValueError(f"plot_samples: expected images of shape (N, C, H, W), got shape {shape} "
                         f"({array.ndim}-D).{hint}")
    if shape[1] not in (1, 3):
        hint = channel_hint(shape, shape[-1]) if shape[-1] in (1, 3) else ""
        raise ValueError(f"plot_samples: expected 1 (grayscale) or 3 (RGB) channels in axis 1, got shape {shape}."
                         f"{hint}")
    if shape[0] == 0 or shape[2] == 0 or shape[3] == 0:
        raise ValueError(f"plot_samples: no pixels to show, got shape {shape}")
    if np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"plot_samples: integer images must lie in 0..255 (uint8), got values {low}..{high}")
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        lowest, highest = float(np.min(array)), float(np.max(array))
        if not (np.isfinite(lowest) and np.isfinite(highest)) or lowest < 0 or highest > 1:
            raise ValueError(f"plot_samples: float images must lie in [0, 1], got values {lowest:.3g}..{highest:.3g}. "
                             "Pass the raw uint8 images (before normalisation), or rescale them to [0, 1].")
        return (array * 255).round().astype(np.uint8)
    raise ValueError(f"plot_samples: expected uint8 (or float in [0, 1]) images, got dtype {array.dtype}")


def plot_samples(
    images: Any,
    labels: Any,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    n: int | None = None,
    ncols: int | None = None,
    title: str = "",
) -> Path:
    """The first ``n`` images (default: up to 24) in a grid, each titled with its class name; a PNG at ``path``.

    ``images``: ``(N, C, H, W)`` uint8, C = 1 (grayscale, shown in gray on a fixed 0..255 scale) or 3 (RGB);
    floats in [0, 1] are accepted too. ``labels``: ``(N,)`` class indices. ``class_names`` maps an index to its
    name (e.g. CIFAR-10's ``"airplane"``...); without it the index is shown (MNIST's digits). ``ncols`` defaults to
    up to 8 images per row.
    """
    pixels = _check_images(images)
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or label_array.shape[0] != pixels.shape[0]:
        raise ValueError(f"plot_samples: expected one label per image, shape ({pixels.shape[0]},), "
                         f"got labels of shape {label_array.shape}")
    if not np.issubdtype(label_array.dtype, np.integer):
        raise ValueError(f"plot_samples: labels must be integer class indices, got dtype {label_array.dtype}")
    count = min(pixels.shape[0], 24) if n is None else n
    if not 1 <= count <= pixels.shape[0]:
        raise ValueError(f"plot_samples: n must be between 1 and the number of images ({pixels.shape[0]}), "
                         f"got {count}")
    if class_names is not None:
        bad = label_array[:count][(label_array[:count] < 0) | (label_array[:count] >= len(class_names))]
        if bad.size:
            raise ValueError(f"plot_samples: label {int(bad[0])} has no class name ({len(class_names)} names given)")
    columns = min(count, 8) if ncols is None else ncols
    if columns < 1:
        raise ValueError(f"plot_samples: ncols must be at least 1, got {columns}")
    rows = math.ceil(count / columns)
    fig, axes = new_figure(rows, columns, width=1.3 * columns, height=1.5 * rows + (0.3 if title else 0))
    for index, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if index >= count:
            continue
        image = pixels[index]
        label = int(label_array[index])
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
        ax.set_title(class_names[label] if class_names is not None else str(label), fontsize=9)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
