"""Measuring translation equivariance layer by layer (the core of assignment 004 task 6, beyond the assignment).

For every convolution / ReLU / pooling layer, the relative distance ``||f(T_d x) - T_k f(x)|| / ||f(x)||``, where
``T_d`` shifts the input by ``d`` pixels and ``T_k`` the feature map by ``k = d / stride`` (the layer's cumulative
stride). It is computed on the full map and on the *interior*: output positions whose receptive field lies inside
the image and outside the pixels vacated by the shift, which separates the border effect (zero padding, vacated
pixels) from the layer itself. When ``k`` is not whole (2 px through two stride-2 layers is 0.5 px), no shifted
copy exists and the closest whole shift is used. Non-spatial layers (the linear layers, the logits) have no shifted
copy at all, so there ``||f(T_d x) - f(x)|| / ||f(x)||`` (invariance) is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cnnlab.data import shift_images
from cnnlab.models import Model
from cnnlab.models.introspect import (
    AxisGeometry,
    MapGeometry,
    check_images,
    layer_activations,
    layer_kind,
    named_layers,
    receptive_fields,
)

#: Layer kinds measured by :func:`measure_equivariance` (flatten only reshapes: it is skipped).
MEASURED_KINDS = ("conv", "relu", "pool", "linear", "other")


def interior_slice(axis: AxisGeometry, length: int, d: int, k: int) -> slice:
    """Output positions ``j`` (of ``length``) where ``f(T_d x)[j]`` must equal ``f(x)[j - k]`` whatever the
    borders do: the receptive field of ``j`` lies inside the input and outside the ``|d|`` pixels vacated by the
    shift (``max(0, d) <= first`` and ``last <= min(size, size + d) - 1``), and ``j - k`` is a valid position."""
    lo_pixel, hi_pixel = max(0, d), min(axis.size, axis.size + d) - 1
    js = np.arange(length)
    first = axis.offset + axis.stride * js
    ok = (first >= lo_pixel) & (first + axis.extent - 1 <= hi_pixel) & (js - k >= 0) & (js - k < length)
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return slice(0, 0)
    return slice(int(idx[0]), int(idx[-1]) + 1)


# ---------------------------------------------------------------------------------------------------------------------

def relative_distance(a: np.ndarray, b: np.ndarray, reference: np.ndarray | None = None) -> float:
    """Mean over images of ``||a[n] - b[n]|| / ||reference[n]||`` (``reference`` defaults to ``b``).

    Images whose reference is all zeros are left out; NaN when none is left (or the arrays are empty).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ref = b if reference is None else np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        if a.shape != b.shape:
            raise ValueError(f"relative_distance: shapes differ, {a.shape} vs {b.shape}")
        return math.nan
    n = a.shape[0]
    num = np.sqrt(((a - b) ** 2).reshape(n, -1).sum(axis=1))
    den = np.sqrt((ref ** 2).reshape(n, -1).sum(axis=1))
    keep = den > 1e-12
    return float(np.mean(num[keep] / den[keep])) if keep.any() else math.nan


@dataclass
class LayerEquivariance:
    """Equivariance of one layer's output under an input shift ``shift = (dx, dy)``.

    ``stride`` is the layer's cumulative stride (x, y) and ``expected_shift = shift / stride`` the shift its map
    should show; ``compared_shift`` the whole shift used (equal to it when ``whole``, else the closest whole shift).
    ``full`` / ``interior``: mean relative distance ``||f(T x) - T_k f(x)|| / ||T_k f(x)||`` over the full map /
    the interior crop (of size ``interior_size`` (h, w)); ``invariance``: ``||f(T x) - f(x)|| / ||f(x)||``, the
    only comparison that exists for non-spatial outputs (then ``full`` and ``interior`` are NaN).
    """

    layer: str
    kind: str
    shift: tuple[int, int]
    mode: str
    output_shape: tuple[int, ...]
    stride: tuple[int, int] | None
    expected_shift: tuple[float, float] | None
    compared_shift: tuple[int, int] | None
    whole: bool
    full: float
    interior: float
    interior_size: tuple[int, int] | None
    invariance: float
    is_output: bool = False

    @property
    def spatial(self) -> bool:
        return self.stride is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("full", "interior", "invariance"):
            d[key] = None if math.isnan(d[key]) else d[key]
        return d


def shift_feature_maps(maps: np.ndarray, kx: int, ky: int, background: np.ndarray | None = None,
                       mode: str = "fill") -> np.ndarray:
    """``T_k``: move ``(N, C, H, W)`` maps ``kx`` cells right and ``ky`` down.

    In fill mode the vacated cells take the value of ``background`` (the layer's maps for an empty input, shape
    ``(1, C, H, W)``) at the same position, or 0 without it: an empty patch of the shifted input makes the layer
    answer with its response to emptiness (e.g. its bias), not with 0. ``mode='wrap'`` rolls instead.
    """
    moved = shift_images(maps, kx, ky, mode=mode)
    if mode == "wrap" or background is None:
        return moved
    vacated = shift_images(np.ones(maps.shape[-2:], dtype=bool), kx, ky, mode="fill", fill=False) == 0
    return np.where(vacated, np.broadcast_to(background, maps.shape), moved)


def _compare(fx: np.ndarray, ftx: np.ndarray, background: np.ndarray, geometry: MapGeometry,
             d: tuple[int, int], k: tuple[int, int], mode: str) -> tuple[float, float, tuple[int, int]]:
    dx, dy = d
    kx, ky = k
    expected = shift_feature_maps(fx, kx, ky, background, mode)
    full = relative_distance(ftx, expected)
    gy, gx = geometry
    h, w = fx.shape[-2:]
    sy, sx = interior_slice(gy, h, dy, ky), interior_slice(gx, w, dx, kx)
    size = (sy.stop - sy.start, sx.stop - sx.start)
    interior = relative_distance(ftx[..., sy, sx], expected[..., sy, sx]) if min(size) > 0 else math.nan
    return full, interior, size


def measure_equivariance(model: Model, images: Any, shift_px: tuple[int, int] = (2, 2), *, mode: str = "fill",
                         fill: float = 0.0, kinds: Sequence[str] = MEASURED_KINDS) -> list[LayerEquivariance]:
    """How far every layer of ``model`` is from shift equivariance, for ``images`` ``(N, C, H, W)`` moved by
    ``shift_px = (dx, dy)`` (content moves right / down) with vacated pixels set to ``fill`` (the background;
    ``mode='fill'``) or rolled around (``mode='wrap'``). Returns one :class:`LayerEquivariance` per layer of a kind
    in ``kinds``, in order.

    The shifted map ``T_k f(x)`` of a layer fills its vacated cells with the layer's output for an all-background
    input (see :func:`shift_feature_maps`), so that the full-map error counts real border effects (content meeting
    the padding or leaving the image) rather than a convention about what the empty cells should hold.
    """
    x = check_images(images)
    dx, dy = (int(v) for v in shift_px)
    fx_all = layer_activations(model, x)
    ftx_all = layer_activations(model, shift_images(x, dx, dy, mode=mode, fill=fill))
    background_all = layer_activations(model, np.full_like(x[:1], fill))
    geometry = receptive_fields(model, x.shape[-2:])
    kinds_by_name = {name: layer_kind(layer) for name, layer in named_layers(model)}
    last = next(reversed(fx_all))
    results = []
    for name, fx in fx_all.items():
        kind = kinds_by_name[name]
        if kind not in kinds:
            continue
        ftx = ftx_all[name]
        invariance = relative_distance(ftx, fx)
        geo = geometry.get(name)
        if geo is None or fx.ndim != 4:
            results.append(LayerEquivariance(name, kind, (dx, dy), mode, tuple(fx.shape), None, None, None, False,
                                             math.nan, math.nan, None, invariance, name == last))
            continue
        stride = (geo[1].stride, geo[0].stride)
        expected = (dx / stride[0], dy / stride[1])
        whole = all(float(e).is_integer() for e in expected)
        candidates_x = sorted({math.floor(expected[0]), math.ceil(expected[0])})
        candidates_y = sorted({math.floor(expected[1]), math.ceil(expected[1])})
        best = None
        for kx in candidates_x:
            for ky in candidates_y:
                full, interior, size = _compare(fx, ftx, background_all[name], geo, (dx, dy), (kx, ky), mode)
                key = interior if not math.isnan(interior) else full
                if best is None or key < best[0]:
                    best = (key, (kx, ky), full, interior, size)
        assert best is not None
        _, k, full, interior, size = best
        results.append(LayerEquivariance(name, kind, (dx, dy), mode, tuple(fx.shape), stride, expected, k, whole,
                                         full, interior, size, invariance, name == last))
    return results


@dataclass
class ExampleMaps:
    """One image, its shifted version and one convolution's maps of both (for the example figure).

    ``image``/``shifted``: (H, W) in [0, 1]; ``maps``/``shifted_maps``: (C, h, w) raw outputs of ``layer``;
    ``expected_shift``: the shift (kx, ky) its maps should show (input shift / stride), ``feature_shift`` the whole
    shift used (the closest one when ``expected_shift`` is not whole); ``expected_maps``: the maps of the image moved
    by ``feature_shift`` (vacated cells: the layer's response to an empty image), i.e. what equivariance predicts
    for the shifted image; ``interior``: the interior crop ``(y0, y1, x0, x1)`` (half-open).
    """

    layer: str
    shift: tuple[int, int]
    expected_shift: tuple[float, float]
    feature_shift: tuple[int, int]
    image: np.ndarray
    shifted: np.ndarray
    maps: np.ndarray
    shifted_maps: np.ndarray
    expected_maps: np.ndarray
    interior: tuple[int, int, int, int]

    @property
    def whole(self) -> bool:
        return all(float(k).is_integer() for k in self.expected_shift)

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "shift": list(self.shift), "expected_shift": list(self.expected_shift),
                "feature_shift": list(self.feature_shift), "map_shape": list(self.maps.shape),
                "interior": list(self.interior),
                "max_abs_difference": float(np.abs(self.shifted_maps - self.expected_maps).max())}


def examples(model: Model, images: np.ndarray, shift_px: tuple[int, int], index: int = 0, max_layers: int = 2,
             fill: float = 0.0) -> list[ExampleMaps]:
    """The maps of the first ``max_layers`` convolutions for image ``index`` and its copy shifted by ``shift_px``
    (vacated pixels ``fill``, the background)."""
    convs = [name for name, layer in named_layers(model) if layer_kind(layer) == "conv"][:max_layers]
    geometry = receptive_fields(model, images.shape[-2:])
    x = images[index:index + 1]
    tx = shift_images(x, *shift_px, fill=fill)
    fx_all, ftx_all = layer_activations(model, x), layer_activations(model, tx)
    background_all = layer_activations(model, np.full_like(x, fill))
    out = []
    for conv in convs:
        geo = geometry[conv]
        if geo is None:
            continue
        fx, ftx, background = fx_all[conv], ftx_all[conv], background_all[conv]
        expected_shift = (shift_px[0] / geo[1].stride, shift_px[1] / geo[0].stride)
        best = None
        for kx in sorted({math.floor(expected_shift[0]), math.ceil(expected_shift[0])}):
            for ky in sorted({math.floor(expected_shift[1]), math.ceil(expected_shift[1])}):
                expected = shift_feature_maps(fx, kx, ky, background)
                error = relative_distance(ftx, expected)
                if best is None or error < best[0]:
                    best = (error, (kx, ky), expected)
        assert best is not None
        _, k, expected = best
        sy = interior_slice(geo[0], fx.shape[-2], shift_px[1], k[1])
        sx = interior_slice(geo[1], fx.shape[-1], shift_px[0], k[0])
        out.append(ExampleMaps(conv, (int(shift_px[0]), int(shift_px[1])), expected_shift, k, x[0, 0], tx[0, 0],
                               fx[0], ftx[0], expected[0], (sy.start, sy.stop, sx.start, sx.stop)))
    return out
