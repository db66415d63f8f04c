"""Seed 004, task 6: translation equivariance of a CNN against an MLP on MNIST, measured.

The seed's experiment: train the MLP and the CNN on MNIST and evaluate both on the validation set as is and
shifted 2 px right and 2 px down (four accuracies). Beyond the seed:

- accuracy against shift (0..6 px; right, down and diagonal) for the MLP, the CNN and an MLP trained with random
  shifts (:class:`RandomShift` as ``augment`` of :func:`cnnlab.training.fit`);
- a direct, per-layer measurement of equivariance (:func:`measure_equivariance`): the relative distance
  ``||f(T_d x) - T_k f(x)|| / ||f(x)||`` after every convolution / ReLU / pooling layer, where ``T_d`` shifts the
  input by ``d`` pixels and ``T_k`` the feature map by ``k = d / stride`` (the layer's cumulative stride). It is
  computed on the full map and on the *interior*: output positions whose receptive field lies inside the image
  and outside the pixels vacated by the shift, which separates the border effect (zero padding, vacated pixels)
  from the layer itself. When ``k`` is not whole (2 px through two stride-2 layers is 0.5 px), no shifted copy
  exists and the closest whole shift is used. Non-spatial layers (the linear layers, the logits) have no shifted
  copy at all, so there ``||f(T_d x) - f(x)|| / ||f(x)||`` (invariance) is reported;
- the seed's three questions answered in text built from these numbers (:func:`answers`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cnnlab.experiments.featuremaps import _is_torch_module, _to_numpy, layer_activations, layer_kind, named_layers

#: Models of the experiment: key -> (model name in cnnlab.models, trained with shift augmentation?).
MODEL_SPECS: dict[str, tuple[str, bool]] = {
    "mlp": ("mnist-mlp", False),
    "cnn": ("mnist-cnn", False),
    "mlp_augmented": ("mnist-mlp", True),
}
MODEL_LABELS = {"mlp": "MLP", "cnn": "CNN", "mlp_augmented": "MLP + shift augmentation"}
#: Shift directions of the accuracy curves: name -> (dx, dy) per pixel of shift (right and down are positive).
DIRECTIONS: dict[str, tuple[int, int]] = {"right": (1, 0), "down": (0, 1), "diagonal": (1, 1)}
#: Layer kinds measured by :func:`measure_equivariance` (flatten only reshapes: it is skipped).
MEASURED_KINDS = ("conv", "relu", "pool", "linear", "other")


# ---------------------------------------------------------------------------------------------------------------------
# Shifting
# ---------------------------------------------------------------------------------------------------------------------

def shift(images: np.ndarray, dx: int, dy: int, mode: str = "fill", fill: float = 0.0) -> np.ndarray:
    """Move the content of ``(..., H, W)`` arrays ``dx`` px right and ``dy`` px down (``cnnlab.data.shift_images``)."""
    from cnnlab.data.transforms import shift_images

    return shift_images(images, int(dx), int(dy), fill=fill, mode=mode)


@dataclass(frozen=True)
class RandomShift:
    """Training augmentation: every image of a batch moved by its own random whole-pixel shift.

    ``dx`` and ``dy`` are drawn independently and uniformly from ``-max_shift .. max_shift``; vacated pixels get
    ``fill`` (0 = black background for images in [0, 1]). Use as ``fit(..., augment=RandomShift(3))``.
    """

    max_shift: int = 3
    mode: str = "fill"
    fill: float = 0.0

    def __post_init__(self) -> None:
        if int(self.max_shift) != self.max_shift or self.max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be a whole number >= 0, got {self.max_shift!r}")
        if self.mode not in ("fill", "wrap"):
            raise ValueError(f"RandomShift: mode must be 'fill' or 'wrap', got {self.mode!r}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = int(self.max_shift)
        if m == 0 or len(x) == 0:
            return x
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"RandomShift: expected a batch (N, C, H, W), got shape {x.shape}")
        dx, dy = rng.integers(-m, m + 1, size=(2, len(x)))
        h, w = x.shape[-2:]
        pad = ((0, 0), (0, 0), (m, m), (m, m))
        if self.mode == "wrap":
            padded = np.pad(x, pad, mode="wrap")
        else:
            padded = np.pad(x, pad, mode="constant", constant_values=self.fill)
        # out[n, :, y, x] = x[n, :, y - dy, x - dx]: the (H, W) window of the padded image at (m - dy, m - dx).
        windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
        return np.ascontiguousarray(windows[np.arange(len(x)), :, m - dy, m - dx])


# ---------------------------------------------------------------------------------------------------------------------
# Receptive-field geometry of a sequential model
# ---------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AxisGeometry:
    """Where output position ``j`` of a layer looks in the input image, along one axis.

    Its receptive field is the input pixels ``offset + stride * j .. offset + stride * j + extent - 1`` (pixels
    outside ``0 .. size - 1`` are padding).
    """

    offset: int
    stride: int
    extent: int
    size: int

    def then(self, kernel: int, stride: int, pad_before: int, dilation: int = 1) -> AxisGeometry:
        return AxisGeometry(self.offset - pad_before * self.stride, self.stride * stride,
                            self.extent + (kernel - 1) * dilation * self.stride, self.size)


def _layer_window(layer: Any) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]] | None:
    """``(kernel, stride, padding before, dilation)`` as (y, x) pairs of a conv or pooling layer, else None."""
    from cnnlab.geometry import resolve_padding, to_pair

    spec = getattr(layer, "spec", None)
    if spec is not None and hasattr(spec, "padding_sides"):
        kernel, stride, dilation = spec.kernel_size, spec.stride, spec.dilation
        (top, _), (left, _) = spec.padding_sides
        return kernel, stride, (top, left), dilation
    try:
        kernel = to_pair(layer.kernel_size, "kernel_size")
        raw_stride = getattr(layer, "stride", None)
        stride = to_pair(raw_stride if raw_stride not in (None, ()) else kernel, "stride")
        dilation = to_pair(getattr(layer, "dilation", 1), "dilation")
        (top, _), (left, _) = resolve_padding(getattr(layer, "padding", 0), kernel, dilation, stride)
    except (AttributeError, TypeError, ValueError):
        return None
    return kernel, stride, (top, left), dilation


def receptive_fields(model: Any, input_hw: tuple[int, int]) -> dict[str, tuple[AxisGeometry, AxisGeometry] | None]:
    """Per layer name, the (y, x) receptive-field geometry of its output, or None where it is not a spatial map
    with known geometry (after flatten / linear, or an unrecognised layer)."""
    geometry: tuple[AxisGeometry, AxisGeometry] | None = (AxisGeometry(0, 1, 1, input_hw[0]),
                                                          AxisGeometry(0, 1, 1, input_hw[1]))
    out: dict[str, tuple[AxisGeometry, AxisGeometry] | None] = {}
    for name, layer in named_layers(model):
        kind = layer_kind(layer)
        if geometry is not None:
            if kind in ("conv", "pool"):
                window = _layer_window(layer)
                if window is None:
                    geometry = None
                else:
                    kernel, stride, before, dilation = window
                    geometry = tuple(g.then(k, s, p, d) for g, k, s, p, d  # type: ignore[assignment]
                                     in zip(geometry, kernel, stride, before, dilation, strict=True))
            elif kind != "relu":
                geometry = None
        out[name] = geometry
    return out


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
# The measurement
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
    moved = shift(maps, kx, ky, mode=mode)
    if mode == "wrap" or background is None:
        return moved
    vacated = shift(np.ones(maps.shape[-2:], dtype=bool), kx, ky, mode="fill", fill=False) == 0
    return np.where(vacated, np.broadcast_to(background, maps.shape), moved)


def _compare(fx: np.ndarray, ftx: np.ndarray, background: np.ndarray, geometry: tuple[AxisGeometry, AxisGeometry],
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


def measure_equivariance(model: Any, images: Any, shift_px: tuple[int, int] = (2, 2), *, mode: str = "fill",
                         fill: float = 0.0, kinds: Sequence[str] = MEASURED_KINDS) -> list[LayerEquivariance]:
    """How far every layer of ``model`` is from shift equivariance, for ``images`` ``(N, C, H, W)`` moved by
    ``shift_px = (dx, dy)`` (content moves right / down) with vacated pixels set to ``fill`` (the background;
    ``mode='fill'``) or rolled around (``mode='wrap'``). Returns one :class:`LayerEquivariance` per layer of a kind
    in ``kinds``, in order.

    The shifted map ``T_k f(x)`` of a layer fills its vacated cells with the layer's output for an all-background
    input (see :func:`shift_feature_maps`), so that the full-map error counts real border effects (content meeting
    the padding or leaving the image) rather than a convention about what the empty cells should hold.
    """
    x = np.asarray(_to_numpy(images), dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {x.shape}")
    dx, dy = (int(v) for v in shift_px)
    fx_all = layer_activations(model, x)
    ftx_all = layer_activations(model, shift(x, dx, dy, mode=mode, fill=fill))
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


# ---------------------------------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class EquivarianceSettings:
    """Settings of :func:`run_equivariance`.

    Defaults follow seed 004: the NumPy engine, the first 10,000 training images, SGD with lr 0.01 and momentum
    0.9, batch 50, 10 epochs, pixels in [0, 1]; the seed's shift of 2 px right and 2 px down.
    """

    engine: str = "numpy"
    epochs: int = 10
    batch_size: int = 50
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    max_datapoints: int | None = 10000
    val_max_datapoints: int | None = None
    seed: int = 0
    shift: tuple[int, int] = (2, 2)
    max_shift: int = 6
    augment_shift: int = 3
    augmented_mlp: bool = True
    probe_images: int = 500
    probe_shifts: tuple[tuple[int, int], ...] = ((2, 2), (4, 4))
    data_root: str | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        self.shift = tuple(int(v) for v in self.shift)  # type: ignore[assignment]
        self.probe_shifts = tuple(tuple(int(v) for v in s) for s in self.probe_shifts)  # type: ignore[assignment]
        for name in ("epochs", "batch_size", "probe_images"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.max_shift < 0 or self.augment_shift < 0:
            raise ValueError("max_shift and augment_shift must be >= 0")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shift"] = list(self.shift)
        d["probe_shifts"] = [list(s) for s in self.probe_shifts]
        return d


@dataclass
class AccuracyCurve:
    """Validation accuracy of one model for shifts ``shifts`` (px) along ``direction``."""

    model: str
    direction: str
    shifts: list[int]
    accuracy: list[float]

    def at(self, s: int) -> float:
        return self.accuracy[self.shifts.index(s)]


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


@dataclass
class EquivarianceResult:
    """Everything the equivariance experiment measured; :meth:`to_dict` is the JSON form (no big arrays)."""

    settings: EquivarianceSettings
    accuracy: dict[str, dict[str, float]]
    curves: list[AccuracyCurve]
    layers: dict[str, list[LayerEquivariance]]
    histories: dict[str, dict[str, Any]]
    examples: list[ExampleMaps]
    seconds: dict[str, float]
    n_train: int | None
    n_val: int
    trained: dict[str, bool] = field(default_factory=dict)
    answers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def example(self) -> ExampleMaps | None:
        """The example of the first convolution (None without a CNN)."""
        return self.examples[0] if self.examples else None

    def curve(self, model: str, direction: str) -> AccuracyCurve:
        for c in self.curves:
            if c.model == model and c.direction == direction:
                return c
        raise KeyError(f"no curve for model {model!r} and direction {direction!r}")

    def layer(self, model: str, name: str, shift_px: tuple[int, int]) -> LayerEquivariance:
        for m in self.layers.get(model, []):
            if m.layer == name and tuple(m.shift) == tuple(shift_px):
                return m
        raise KeyError(f"no measurement for {model!r} layer {name!r} at shift {shift_px}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.to_dict(),
            "n_train": self.n_train,
            "n_val": self.n_val,
            "trained": dict(self.trained),
            "accuracy": self.accuracy,
            "curves": [asdict(c) for c in self.curves],
            "layers": {model: [m.to_dict() for m in ms] for model, ms in self.layers.items()},
            "histories": self.histories,
            "examples": [ex.to_dict() for ex in self.examples],
            "seconds": self.seconds,
            "answers": [{"question": q, "answer": a} for q, a in self.answers],
        }


def _loss_and_optimizer(model: Any, settings: EquivarianceSettings) -> tuple[Any, Any]:
    if _is_torch_module(model):
        import torch

        loss = torch.nn.CrossEntropyLoss()
        if settings.optimizer == "adam":
            return loss, torch.optim.Adam(model.parameters(), lr=settings.lr)
        return loss, torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    from cnnlab.numpy_nn import losses, optim

    loss = losses.CrossEntropyLoss()
    if settings.optimizer == "adam":
        return loss, optim.Adam(model.parameters(), lr=settings.lr)
    return loss, optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)


def _as_float(images: np.ndarray) -> np.ndarray:
    from cnnlab.data.transforms import to_float

    images = np.asarray(images)
    return to_float(images) if images.dtype == np.uint8 else images.astype(np.float32, copy=False)


def _load(split: str, root: str | None, max_datapoints: int | None, download: bool) -> tuple[np.ndarray, np.ndarray]:
    from cnnlab.data import load_dataset

    ds = load_dataset("mnist", split=split, root=root, max_datapoints=max_datapoints, download=download,
                      progress=False)
    return np.asarray(ds.images), np.asarray(ds.labels)


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray, device: str | None) -> float:
    from cnnlab.training import predict

    logits = predict(model, x, batch_size=1000, device=device if _is_torch_module(model) else None)
    return float((logits.argmax(axis=1) == y).mean())


def run_equivariance(
    settings: EquivarianceSettings | None = None,
    *,
    models: Mapping[str, Any] | None = None,
    train: tuple[np.ndarray, np.ndarray] | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = False,
    download: bool = False,
) -> EquivarianceResult:
    """Run the equivariance experiment.

    ``models``: already trained models by key (``"mlp"``, ``"cnn"``, ``"mlp_augmented"``), used as they are;
    the others are built (``settings.engine``) and trained here. ``train`` / ``val``: ``(images, labels)`` with
    images ``(N, 1, 28, 28)`` uint8 (or float in [0, 1], background 0); by default MNIST is loaded from
    ``settings.data_root`` (training data only when something is to be trained; ``download=True`` fetches missing
    files, else a missing file raises ``cnnlab.data.DataNotFoundError`` saying how to get it). ``progress``:
    progress bars (training epochs and the shifted evaluations).
    """
    from tqdm import tqdm

    from cnnlab.models import build_model
    from cnnlab.training import fit

    settings = settings or EquivarianceSettings()
    given = dict(models or {})
    unknown = set(given) - set(MODEL_SPECS)
    if unknown:
        raise ValueError(f"unknown model keys {sorted(unknown)}; use {list(MODEL_SPECS)}")
    keys = [k for k in MODEL_SPECS if k != "mlp_augmented" or settings.augmented_mlp or k in given]
    seconds: dict[str, float] = {}
    start_all = time.perf_counter()

    start = time.perf_counter()
    if val is None:
        val = _load("val", settings.data_root, settings.val_max_datapoints, download)
    val_images, val_labels = np.asarray(val[0]), np.asarray(val[1]).astype(np.int64)
    if settings.val_max_datapoints is not None:
        val_images, val_labels = val_images[:settings.val_max_datapoints], val_labels[:settings.val_max_datapoints]
    to_train = [k for k in keys if k not in given]
    n_train = None
    if to_train:
        if train is None:
            train = _load("train", settings.data_root, settings.max_datapoints, download)
        train_images, train_labels = np.asarray(train[0]), np.asarray(train[1]).astype(np.int64)
        if settings.max_datapoints is not None:
            train_images = train_images[:settings.max_datapoints]
            train_labels = train_labels[:settings.max_datapoints]
        n_train = len(train_labels)
        x_train = _as_float(train_images)
    x_val = _as_float(val_images)
    seconds["data"] = time.perf_counter() - start

    trained_models: dict[str, Any] = {}
    histories: dict[str, dict[str, Any]] = {}
    for key in keys:
        if key in given:
            trained_models[key] = given[key]
            continue
        name, augmented = MODEL_SPECS[key]
        start = time.perf_counter()
        model = build_model(name, settings.engine, seed=settings.seed)
        loss_fn, optimizer = _loss_and_optimizer(model, settings)
        history = fit(model, loss_fn, optimizer, (x_train, train_labels), (x_val, val_labels),
                      epochs=settings.epochs, batch_size=settings.batch_size, seed=settings.seed,
                      augment=RandomShift(settings.augment_shift) if augmented else None,
                      device=settings.device if settings.engine != "numpy" else None, progress=progress)
        seconds[f"train_{key}"] = time.perf_counter() - start
        histories[key] = {"train_acc": history.train_acc, "val_acc": history.val_acc,
                          "train_loss": history.train_loss, "val_loss": history.val_loss,
                          "seconds": history.seconds, "interrupted": history.interrupted}
        trained_models[key] = model

    # Accuracy against shift: each shifted validation set is made once and shared by all models.
    start = time.perf_counter()
    shifts = list(range(settings.max_shift + 1))
    offsets = {(0, 0)} | {(s * ux, s * uy) for ux, uy in DIRECTIONS.values() for s in shifts}
    offsets.add(settings.shift)
    acc: dict[str, dict[tuple[int, int], float]] = {k: {} for k in keys}
    bar = tqdm(sorted(offsets), desc="shifted validation sets", disable=not progress, leave=False)
    for dx, dy in bar:
        xs = shift(x_val, dx, dy)
        for key in keys:
            acc[key][(dx, dy)] = _accuracy(trained_models[key], xs, val_labels, settings.device)
    curves = [AccuracyCurve(key, direction, shifts, [acc[key][(s * ux, s * uy)] for s in shifts])
              for key in keys for direction, (ux, uy) in DIRECTIONS.items()]
    accuracy = {key: {"original": acc[key][(0, 0)], "shifted": acc[key][settings.shift]} for key in keys}
    seconds["accuracy_curves"] = time.perf_counter() - start

    # Per-layer equivariance of the CNN (and invariance of the MLPs) on a few validation images.
    start = time.perf_counter()
    probe = x_val[:settings.probe_images]
    layers: dict[str, list[LayerEquivariance]] = {}
    for key in keys:
        layers[key] = [m for d in settings.probe_shifts for m in measure_equivariance(trained_models[key], probe, d)]
    examples = _examples(trained_models["cnn"], probe, settings.shift) if "cnn" in trained_models else []
    seconds["equivariance"] = time.perf_counter() - start
    seconds["total"] = time.perf_counter() - start_all

    result = EquivarianceResult(settings=settings, accuracy=accuracy, curves=curves, layers=layers,
                                histories=histories, examples=examples, seconds=seconds, n_train=n_train,
                                n_val=len(val_labels), trained={k: k not in given for k in keys})
    result.answers = answers(result)
    return result


def _examples(model: Any, images: np.ndarray, shift_px: tuple[int, int], index: int = 0,
              max_layers: int = 2) -> list[ExampleMaps]:
    """The maps of the first ``max_layers`` convolutions for one image and its shifted version."""
    convs = [name for name, layer in named_layers(model) if layer_kind(layer) == "conv"][:max_layers]
    geometry = receptive_fields(model, images.shape[-2:])
    x = images[index:index + 1]
    tx = shift(x, *shift_px)
    fx_all, ftx_all = layer_activations(model, x), layer_activations(model, tx)
    background_all = layer_activations(model, np.zeros_like(x))
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
        out.append(ExampleMaps(conv, tuple(shift_px), expected_shift, k, x[0, 0], tx[0, 0], fx[0], ftx[0],
                               expected[0], (sy.start, sy.stop, sx.start, sx.stop)))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# The seed's questions, answered from the numbers
# ---------------------------------------------------------------------------------------------------------------------

QUESTIONS = (
    "What do you observe regarding the accuracies? How can the results be explained?",
    "What could we do to improve the accuracy of the MLP model on the shifted validation set?",
    "Why is the performance of the CNN not equal for unshifted and shifted data, if convolutions are equivariant "
    "to translation?",
)


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _pts(v: float) -> str:
    return f"{100 * v:.1f} points"


def _moves(before: float, after: float) -> str:
    """'falls to X (-d points)', 'rises to X (+d points)' or 'stays at X': the wording follows the numbers."""
    if abs(after - before) < 0.0005:
        return f"stays at {_pct(after)}"
    verb, sign = ("falls", "-") if after < before else ("rises", "+")
    return f"{verb} to {_pct(after)} ({sign}{_pts(abs(after - before))})"


def _err(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    if v == 0:
        return "0"
    return f"{v:.1e}" if v < 1e-3 else f"{100 * v:.1f}%"


def _find(result: EquivarianceResult, model: str, shift_px: tuple[int, int],
          predicate: Callable[[LayerEquivariance], bool]) -> list[LayerEquivariance]:
    return [m for m in result.layers.get(model, []) if tuple(m.shift) == tuple(shift_px) and predicate(m)]


def answers(result: EquivarianceResult) -> list[tuple[str, str]]:
    """The seed's three questions, each answered with the measured numbers of ``result``."""
    s = result.settings
    dx, dy = s.shift
    shift_text = f"{dx} px right and {dy} px down"
    acc = result.accuracy
    out = []

    # Q1 -------------------------------------------------------------------------------------------------------
    parts = []
    if "mlp" in acc and "cnn" in acc:
        mlp, cnn = acc["mlp"], acc["cnn"]
        drop_mlp, drop_cnn = mlp["original"] - mlp["shifted"], cnn["original"] - cnn["shifted"]
        parts.append(f"Unshifted, the MLP reaches {_pct(mlp['original'])} and the CNN {_pct(cnn['original'])} "
                     f"validation accuracy. Shifted {shift_text}, the MLP {_moves(mlp['original'], mlp['shifted'])} "
                     f"and the CNN {_moves(cnn['original'], cnn['shifted'])}.")
        if drop_cnn < drop_mlp - 0.005:
            both = "Both suffer, but the" if min(drop_mlp, drop_cnn) > 0.005 else "The"
            parts.append(f"{both} CNN loses {_pts(drop_mlp - drop_cnn)} less than the MLP.")
        elif drop_mlp < drop_cnn - 0.005:
            parts.append(f"In this run the CNN loses {_pts(drop_cnn - drop_mlp)} more than the MLP, so its "
                         "convolutions alone did not make it the more shift-robust model (see question 3).")
        else:
            parts.append("Both lose about the same.")
        diag = [result.curve(k, "diagonal") for k in ("mlp", "cnn")]
        top = diag[0].shifts[-1]
        parts.append(f"The curves continue the trend: at {top} px diagonally the MLP is at {_pct(diag[0].at(top))}, "
                     f"the CNN at {_pct(diag[1].at(top))}.")
        mlp_in = _find(result, "mlp", s.shift, lambda m: m.is_output)
        cnn_in = _find(result, "cnn", s.shift, lambda m: m.is_output)
        conv = _find(result, "cnn", s.shift, lambda m: m.kind == "conv" and m.whole)
        expl = ("Explanation: the MLP's first layer has one weight per pixel position, so a digit moved by a few "
                "pixels meets weights fitted to other positions; nothing in it relates neighbouring positions.")
        if mlp_in and cnn_in:
            expl += (f" Measured on the logits, the shift moves the MLP's output by {_err(mlp_in[0].invariance)} "
                     f"of its norm and the CNN's by {_err(cnn_in[0].invariance)} (relative distance "
                     "||f(shifted x) - f(x)|| / ||f(x)||).")
        if conv:
            e = conv[0].interior
            match = ("exactly" if e == 0 else f"up to rounding ({_err(e)})" if e < 1e-4 else
                     f"only up to a relative error of {_err(e)}")
            expl += (f" The CNN's convolution {conv[0].layer} moves its feature maps along with the input: inside "
                     f"the map, its output for the shifted image is its shifted output for the original {match}"
                     + (", so what it detects does not change, only where." if e < 1e-3 else "."))
        parts.append(expl)
    out.append((QUESTIONS[0], " ".join(parts) or "Not measured (MLP or CNN missing)."))

    # Q2 -------------------------------------------------------------------------------------------------------
    parts = ["Show it shifted digits while training (data augmentation), so that its weights cover every "
             "position a digit can take."]
    if "mlp_augmented" in acc and "mlp" in acc:
        aug, mlp = acc["mlp_augmented"], acc["mlp"]
        gain = aug["shifted"] - mlp["shifted"]
        verdict = (f"recovering {_pts(gain)}" if gain > 0.005 else
                   "no real gain here" if gain > -0.005 else f"{_pts(-gain)} worse here")
        parts.append(f"Measured: an MLP trained on random shifts of up to ±{s.augment_shift} px reaches "
                     f"{_pct(aug['shifted'])} on the shifted set against {_pct(mlp['shifted'])} without "
                     f"augmentation ({verdict}), and {_pct(aug['original'])} on the unshifted set (plain MLP "
                     f"{_pct(mlp['original'])}).")
        c_aug, c_mlp = result.curve("mlp_augmented", "diagonal"), result.curve("mlp", "diagonal")
        inside = [v for v in c_aug.shifts if 0 < v <= s.augment_shift]
        beyond = [v for v in c_aug.shifts if v > s.augment_shift]
        if inside:
            m = inside[-1]
            parts.append(f"Along the diagonal, within the ±{s.augment_shift} px seen in training, at {m} px: "
                         f"{_pct(c_aug.at(m))} (plain MLP {_pct(c_mlp.at(m))}).")
        if beyond:
            top = beyond[-1]
            parts.append(f"Beyond it, at {top} px: {_pct(c_aug.at(top))} (plain MLP {_pct(c_mlp.at(top))}); "
                         "augmentation teaches the shifts it shows, no more.")
    parts.append("Other remedies: centre every digit before classifying it (by its centre of mass, as MNIST was "
                 "prepared), or give the model shift-tolerant structure: convolutions followed by pooling, or a "
                 "global pooling before the classifier.")
    out.append((QUESTIONS[1], " ".join(parts)))

    # Q3 -------------------------------------------------------------------------------------------------------
    parts = []
    if "cnn" in result.layers:
        parts.append("Equivariance holds for the convolutions, not for the whole network, and even for the "
                     "convolutions only in the interior and for shifts the strides can follow.")
        out_layer = _find(result, "cnn", s.shift, lambda m: m.is_output)
        if out_layer:
            parts.append(f"(1) The last layer is fully connected: it weighs every feature by its position, so "
                         f"features that moved meet other weights. At the logits ({out_layer[0].layer}) the "
                         f"{dx},{dy} px shift changes the output by {_err(out_layer[0].invariance)} of its norm"
                         + ("; the network has no pooling that could absorb small shifts."
                            if not any(m.kind == "pool" for m in result.layers["cnn"]) else "."))
            # Evidence: a probe shift that every map follows exactly, and the accuracy at that shift.
            for p in s.probe_shifts:
                maps = _find(result, "cnn", p, lambda m: m.spatial)
                if (p == tuple(s.shift) or p[0] != p[1] or "cnn" not in acc or not maps
                        or p[0] not in result.curve("cnn", "diagonal").shifts
                        or not all(m.whole and m.interior < 1e-4 for m in maps)):
                    continue
                c = result.curve("cnn", "diagonal")
                at_p, at_0 = c.at(p[0]), c.at(0)
                text = (f" At {p[0]},{p[1]} px every map is an exact shifted copy in the interior, yet the CNN's "
                        f"accuracy is {_pct(at_p)} (unshifted {_pct(at_0)})")
                parts[-1] += text + (": the fully connected layer, not the convolutions, fails to recognise the "
                                     "moved features." if at_p < at_0 - 0.05 else
                                     ": at this shift the classifier copes with the moved features.")
                break
        spatial = _find(result, "cnn", s.shift, lambda m: m.spatial and m.kind == "conv")
        fractional = [m for m in spatial if not m.whole]
        whole = [m for m in spatial if m.whole]
        if fractional:
            m = fractional[0]
            text = (f"(2) Strides: {m.layer} has a cumulative stride of {m.stride[0]}, so a {dx} px shift would be "
                    f"{m.expected_shift[0]:g} px on its map, which has no whole-pixel equivalent: even the closest "
                    f"whole shift leaves an interior error of {_err(m.interior)}")
            if whole:
                w0 = whole[0]
                how = ("exactly" if w0.interior == 0 else "exactly up to rounding" if w0.interior < 1e-4 else
                       "only approximately")
                text += (f", while {w0.layer} (stride {w0.stride[0]}) follows the shift {how} (interior error "
                         f"{_err(w0.interior)})")
            multiple = [p for p in s.probe_shifts if p != tuple(s.shift)]
            for p in multiple:
                same = _find(result, "cnn", p, lambda q, name=m.layer: q.layer == name)
                if same and same[0].whole:
                    text += (f"; with a {p[0]},{p[1]} px shift, a multiple of the stride, {m.layer}'s interior "
                             f"error drops to {_err(same[0].interior)}")
                    break
            parts.append(text + ".")
        elif whole:
            parts.append(f"(2) Strides: the {dx},{dy} px shift is a whole number of pixels on every map "
                         f"(e.g. {whole[-1].layer}: {_err(whole[-1].interior)} in the interior), so the strides "
                         "are not the cause here.")
        border = [m for m in result.layers["cnn"]
                  if m.kind == "conv" and m.whole and not math.isnan(m.interior)]
        if border:
            listing = "; ".join(f"{m.layer} at {m.shift[0]},{m.shift[1]} px: {_err(m.full)} on the full map, "
                                f"{_err(m.interior)} in the interior" for m in border)
            worst = max(m.full - m.interior for m in border)
            if worst > 0.01:
                parts.append(f"(3) Borders: near the edges the maps are not shifted copies even for whole shifts "
                             f"({listing}); this part comes from the zero padding (which need not equal the "
                             "layer's response to empty background) and from content pushed off the image.")
            else:
                parts.append(f"(3) Borders matter little here ({listing}): the digits sit in an empty margin, "
                             "so padding and the vacated pixels see only background.")
        if "cnn" in acc:
            c = result.curve("cnn", "diagonal")
            parts.append(f"(4) Data: MNIST digits are centred, so the classifier never saw a moved digit during "
                         f"training; at {c.shifts[-1]} px diagonally the CNN's accuracy "
                         f"{_moves(c.at(0), c.at(c.shifts[-1]))} from {_pct(c.at(0))}.")
    # One line per point: the report keeps line breaks.
    out.append((QUESTIONS[2], "\n".join(parts) or "Not measured (no CNN)."))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------------------------------------

FIGURE_CAPTIONS = {
    "curves": "Validation accuracy against the shift of the images (px), right, down and diagonal.",
    "layers": "Equivariance error per CNN layer: ||f(shifted x) - shift(f(x))|| / ||shift(f(x))|| on the full map "
              "and on the interior (away from padding and vacated pixels; the vacated cells of shift(f(x)) hold the "
              "layer's response to an empty image); grey: how much the map changes at all, ||f(shifted x) - f(x)|| / "
              "||f(x)||, the only comparison at the output layer, where no shifted copy exists. Log scale.",
    "example": "An image, the image shifted, and for the first channels of each convolution: its maps of both, the "
               "map of the original moved by the shift the layer should show (T'), and the difference (dashed: the "
               "interior crop). Where that shift is whole the difference vanishes (at most near the borders); where "
               "it is not (e.g. half a cell), no shifted copy exists and T' is the closest whole shift.",
}


def _figure_items(figure_paths: Any) -> Iterable[tuple[str, Any]]:
    if figure_paths is None:
        return []
    if isinstance(figure_paths, Mapping):
        return list(figure_paths.items())
    return [(str(i), p) for i, p in enumerate(figure_paths)]


def section(result: EquivarianceResult, figure_paths: Any = None) -> Any:
    """The report section of seed 004 task 6 (a :class:`cnnlab.report.Section`)."""
    from cnnlab.report import Figure, Section, Table

    s = result.settings
    shift_label = f"shifted {s.shift[0]},{s.shift[1]} px"
    acc_table = Table(
        columns=["model", "trained here", "unshifted", shift_label, "drop"],
        rows=[[MODEL_LABELS[k], result.trained.get(k, True), _pct(v["original"]), _pct(v["shifted"]),
               _pts(v["original"] - v["shifted"])] for k, v in result.accuracy.items()],
        caption=f"Validation accuracy ({result.n_val} images), as is and shifted {s.shift[0]} px right and "
                f"{s.shift[1]} px down (the seed's four numbers are the MLP and CNN rows).",
    )
    curve_rows = [[MODEL_LABELS[c.model], c.direction, *(_pct(a) for a in c.accuracy)] for c in result.curves]
    curves_table = Table(columns=["model", "direction", *[f"{v} px" for v in result.curves[0].shifts]],
                         rows=curve_rows, caption="Validation accuracy against shift.")
    layer_rows = []
    for key in result.layers:
        for m in result.layers[key]:
            layer_rows.append([
                MODEL_LABELS[key], m.layer, f"{m.shift[0]},{m.shift[1]}",
                None if m.stride is None else m.stride[0],
                None if m.expected_shift is None else f"{m.expected_shift[0]:g},{m.expected_shift[1]:g}"
                + ("" if m.whole else f" (compared: {m.compared_shift[0]},{m.compared_shift[1]})"),
                None if math.isnan(m.full) else _err(m.full), None if math.isnan(m.interior) else _err(m.interior),
                _err(m.invariance),
            ])
    layers_table = Table(
        columns=["model", "layer", "input shift (px)", "stride", "map shift", "equivariance error (full)",
                 "equivariance error (interior)", "change ||f(Tx)-f(x)||/||f(x)||"],
        rows=layer_rows,
        caption=f"Per-layer measurement on {min(s.probe_images, result.n_val)} validation images (means over "
                "images of relative distances). A dash: no shifted copy of the output exists (non-spatial layer).",
    )
    paragraphs = [f"Q: {q}\nA: {a}" for q, a in result.answers]
    figures = [Figure(path, FIGURE_CAPTIONS.get(key, "")) for key, path in _figure_items(figure_paths)]
    training = ", ".join(f"{MODEL_LABELS[k]} {v['seconds']:.1f} s" for k, v in result.histories.items())
    intro = (f"Seed 004 task 6: the MLP and the CNN trained on MNIST ({result.n_train or 'pre-trained'} training "
             f"images), evaluated on the validation set as is and shifted; beyond the seed, accuracy against shift, "
             f"an MLP trained with random shifts of up to ±{s.augment_shift} px, and a per-layer measurement of "
             "equivariance with the border effect separated.")
    if training:
        intro += f" Training time: {training}."
    settings = s.to_dict()
    settings.pop("data_root", None)
    return Section(title="Translation equivariance: MLP vs CNN (seed 004, task 6)", intro=intro,
                   paragraphs=paragraphs, tables=[acc_table, curves_table, layers_table], figures=figures,
                   settings=settings, seconds=result.seconds.get("total"), skipped=None)
