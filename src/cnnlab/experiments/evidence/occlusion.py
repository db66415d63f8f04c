"""Where the network looks, by occlusion (Zeiler & Fergus 2014): slide a patch of the mean pixel over the image and
record how much the probability of the true class drops at every patch position.

``drop[n, i, j] = p(y_n | x_n) - p(y_n | x_n with the patch at (ys[i], xs[j]))``: positive where hiding the pixels
hurts the true class, negative where hiding them helps it. Patch positions step by ``stride`` from the top-left
corner while the patch fits in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.experiments.evidence.evaluation import softmax
from cnnlab.experiments.evidence.walk import LayerWalk
from cnnlab.models import Model


def check_patch(patch: int, stride: int, image_hw: tuple[int, int]) -> None:
    """``ValueError`` unless ``1 <= patch <= min(H, W)`` and ``stride >= 1``."""
    if patch < 1 or stride < 1:
        raise ValueError(f"the occlusion patch and stride must be positive, got patch {patch}, stride {stride}")
    if patch > min(image_hw):
        raise ValueError(f"the occlusion patch ({patch} px) is larger than the {image_hw[0]}x{image_hw[1]} images; "
                         f"use at most {min(image_hw)}")


def patch_positions(image_hw: tuple[int, int], patch: int, stride: int) -> tuple[list[int], list[int]]:
    """Top rows and left columns of the patch positions: ``0, stride, 2·stride, ... <= size - patch``."""
    check_patch(patch, stride, image_hw)
    return list(range(0, image_hw[0] - patch + 1, stride)), list(range(0, image_hw[1] - patch + 1, stride))


@dataclass
class OcclusionMaps:
    """Occlusion sensitivity of ``N`` images: ``drop`` ``(N, len(ys), len(xs))``, the unoccluded probability of the
    true class ``base`` ``(N,)`` and the unoccluded prediction ``predictions`` ``(N,)``, the patch geometry and the
    fill value per channel (model input units)."""

    drop: np.ndarray
    base: np.ndarray
    predictions: np.ndarray
    patch: int
    stride: int
    ys: list[int]
    xs: list[int]
    fill: np.ndarray

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """The patch centres (pixel coordinates) of the map's rows and columns."""
        half = (self.patch - 1) / 2
        return np.asarray(self.ys) + half, np.asarray(self.xs) + half


def occlusion_maps(model: Model, x: np.ndarray, labels: np.ndarray, *, patch: int, stride: int,
                   fill: np.ndarray | float | None = None, batch_size: int = 256) -> OcclusionMaps:
    """Occlusion maps of images ``x`` ``(N, C, H, W)`` (model inputs) for their ``labels``.

    ``fill``: the patch's value per channel (default: the mean of ``x`` per channel, i.e. "the average pixel",
    which is 0 for standardised inputs). Each image's occluded copies are evaluated in batches of ``batch_size``.
    """
    x = np.asarray(x, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if x.ndim != 4 or len(x) != len(labels):
        raise ValueError(f"x must be (N, C, H, W) with one label per image, got {x.shape} and {len(labels)} labels")
    ys, xs = patch_positions((x.shape[2], x.shape[3]), patch, stride)
    values = (x.mean(axis=(0, 2, 3)) if fill is None
              else np.broadcast_to(np.asarray(fill, dtype=np.float32), (x.shape[1],)).copy())
    walk = LayerWalk(model)
    positions = [(y, xx) for y in ys for xx in xs]
    drop = np.zeros((len(x), len(ys) * len(xs)))
    with walk.evaluating():
        intact = softmax(walk.numpy(walk.run(walk.inputs(x))))
        base = intact[np.arange(len(x)), labels]
        for n in range(len(x)):
            for start in range(0, len(positions), batch_size):
                chunk = positions[start:start + batch_size]
                batch = np.repeat(x[n:n + 1], len(chunk), axis=0)
                for row, (y, xx) in enumerate(chunk):
                    batch[row, :, y:y + patch, xx:xx + patch] = values[:, None, None]
                probs = softmax(walk.numpy(walk.run(walk.inputs(batch))))[:, labels[n]]
                drop[n, start:start + len(chunk)] = base[n] - probs
    return OcclusionMaps(drop.reshape(len(x), len(ys), len(xs)), base, intact.argmax(axis=1), patch, stride, ys, xs,
                         values)


def centre_mask(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Which cells of a ``shape`` map (cell coordinates ``rows`` x ``cols`` in pixels) lie in the image's central
    region: the middle half of each side, ``[H/4, 3H/4) x [W/4, 3W/4)`` -- a quarter of the area."""
    h, w = image_hw
    in_rows = (rows >= h / 4) & (rows < 3 * h / 4)
    in_cols = (cols >= w / 4) & (cols < 3 * w / 4)
    mask = in_rows[:, None] & in_cols[None, :]
    assert mask.shape == shape
    return mask


def centre_share(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per map of ``maps`` ``(N, h, w)``: the share of its positive mass inside ``mask`` ``(h, w)`` (NaN for a map
    without positive values)."""
    positive = np.clip(np.asarray(maps, dtype=np.float64), 0, None)
    total = positive.sum(axis=(1, 2))
    inside = (positive * mask).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
