"""Seed 000, task 3.3: intermediate feature maps and first-layer filters of a trained network.

For a few images, the activations after every convolution and every pooling layer (optionally every ReLU) are
collected, the first ``n_channels`` channels of each kept, and every map min-max normalised to [0, 1] on its own
(a constant map becomes all zeros, never NaN). The learned filters of the first convolution come along.

Works for any engine: a ``torch.nn.Sequential`` (run under ``no_grad`` in eval mode, on the model's device) or a
``cnnlab.numpy_nn`` ``Sequential`` (layers called on float32 arrays). Only ``named_children()`` is needed, so any
sequential container whose children are applied in order will do.

The per-layer helpers (:func:`layer_activations`, :func:`layer_kind`) are shared with the equivariance experiment.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Layer kinds whose outputs are feature maps worth showing, by default.
DEFAULT_KINDS = ("conv", "pool")


# ---------------------------------------------------------------------------------------------------------------------
# Engine-neutral access to a sequential model
# ---------------------------------------------------------------------------------------------------------------------

def _is_torch_module(obj: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(obj, torch.nn.Module)


def _to_numpy(value: Any) -> np.ndarray:
    """A parameter or activation of either engine as a NumPy array (detached, on the CPU)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # torch tensor / Parameter
        return value.detach().float().cpu().numpy()
    data = getattr(value, "data", value)  # numpy_nn Parameter keeps its array in .data
    if hasattr(data, "detach"):
        return data.detach().float().cpu().numpy()
    return np.asarray(data)


def layer_kind(layer: Any) -> str:
    """Classify a layer by its class name: ``conv``, ``pool``, ``relu``, ``linear``, ``flatten`` or ``other``."""
    name = type(layer).__name__.lower()
    if "conv" in name:
        return "conv"
    if "pool" in name:
        return "pool"
    if "relu" in name:
        return "relu"
    if "linear" in name:
        return "linear"
    if "flatten" in name:
        return "flatten"
    return "other"


def named_layers(model: Any) -> list[tuple[str, Any]]:
    """The ``(name, layer)`` children of a sequential model of either engine, in order."""
    if not hasattr(model, "named_children"):
        raise TypeError(f"expected a sequential model with named_children() (torch.nn.Sequential or "
                        f"cnnlab.numpy_nn.Sequential), got {type(model).__name__}")
    layers = list(model.named_children())
    if not layers:
        raise ValueError(f"the model {type(model).__name__} has no layers")
    return layers


def _check_images(images: Any) -> np.ndarray:
    x = _to_numpy(images)
    if x.ndim != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {x.shape}"
                         + (" (a single image? add a batch axis: x[None])" if x.ndim == 3 else ""))
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"images must be floating point as the model was trained on them (e.g. float32 in [0, 1]), "
                        f"got {x.dtype}; convert uint8 images with cnnlab.data.to_float or prepare first")
    return np.ascontiguousarray(x, dtype=np.float32)


def layer_activations(model: Any, images: Any) -> OrderedDict[str, np.ndarray]:
    """Output of every child of ``model`` for ``images`` ``(N, C, H, W)``, as float32 NumPy arrays, in order.

    torch models run in eval mode under ``no_grad`` on the device of their parameters; the training flag is
    restored afterwards. NumPy-engine models run in eval mode too (when they have one).
    """
    x = _check_images(images)
    layers = named_layers(model)
    outputs: OrderedDict[str, np.ndarray] = OrderedDict()
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        if _is_torch_module(model):
            import torch

            params = list(model.parameters())
            device = params[0].device if params else torch.device("cpu")
            with torch.no_grad():
                h = torch.from_numpy(x).to(device)
                for name, layer in layers:
                    h = layer(h)
                    outputs[name] = h.detach().float().cpu().numpy()
        else:
            h = x
            for name, layer in layers:
                h = layer(h)
                outputs[name] = np.asarray(_to_numpy(h), dtype=np.float32)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return outputs


def first_conv(model: Any) -> tuple[str, np.ndarray]:
    """Name and weight ``(out, in, kh, kw)`` of the first convolution of ``model``."""
    for name, layer in named_layers(model):
        if layer_kind(layer) == "conv":
            return name, _to_numpy(layer.weight).astype(np.float32)
    raise ValueError(f"the model has no convolution layer (layers: {[n for n, _ in named_layers(model)]})")


# ---------------------------------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------------------------------

def normalize_maps(maps: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Min-max normalise every map ``maps[n, c]`` of an ``(N, C, H, W)`` array to [0, 1] on its own.

    A constant map (max - min <= ``eps``) becomes all zeros rather than NaN.
    """
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 4:
        raise ValueError(f"normalize_maps expects (N, C, H, W), got shape {a.shape}")
    lo = a.min(axis=(2, 3), keepdims=True)
    span = a.max(axis=(2, 3), keepdims=True) - lo
    safe = np.where(span > eps, span, 1.0)
    out = np.where(span > eps, (a - lo) / safe, 0.0)
    return out.astype(np.float32)


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


def display_images(images: np.ndarray) -> np.ndarray:
    """Images ``(N, C, H, W)`` scaled per image to [0, 1] for display (uint8 divided by 255)."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / 255.0)
    x = x.astype(np.float64)
    lo = x.min(axis=(1, 2, 3), keepdims=True)
    span = x.max(axis=(1, 2, 3), keepdims=True) - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class LayerMaps:
    """The first channels of one layer's output for every image.

    ``maps`` ``(N, k, H, W)`` is normalised per map to [0, 1]; ``raw_min`` / ``raw_max`` / ``raw_mean`` /
    ``zero_fraction`` ``(N, k)`` describe the maps before normalisation (``zero_fraction``: share of exactly zero
    pixels, e.g. switched off by a ReLU); ``constant`` marks maps that were constant (shown as all zeros).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    channels: list[int]
    maps: np.ndarray
    raw_min: np.ndarray
    raw_max: np.ndarray
    raw_mean: np.ndarray
    zero_fraction: np.ndarray
    constant: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        stats = []
        for c_index, channel in enumerate(self.channels):
            for n in range(self.maps.shape[0]):
                stats.append({
                    "image": n, "channel": channel,
                    "min": float(self.raw_min[n, c_index]), "max": float(self.raw_max[n, c_index]),
                    "mean": float(self.raw_mean[n, c_index]),
                    "zero_fraction": float(self.zero_fraction[n, c_index]),
                    "constant": bool(self.constant[n, c_index]),
                })
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "channels": list(self.channels),
                "map_size": list(self.maps.shape[2:]), "maps": stats}


@dataclass
class FeatureMapsResult:
    """Feature maps of a few images through a trained network, and its first-layer filters.

    ``images``: the inputs scaled to [0, 1] for display ``(N, C, H, W)``; ``layers``: one :class:`LayerMaps` per
    shown layer, in network order; ``filters``: the raw first-convolution weights ``(out, in, kh, kw)`` (normalise
    with :func:`normalize_filters` to show them); ``predictions``/``confidences``: the model's class and softmax
    probability per image when its last layer gives class scores.
    """

    images: np.ndarray
    layers: list[LayerMaps]
    filter_layer: str
    filters: np.ndarray
    n_channels: int
    labels: list[int] | None = None
    class_names: list[str] | None = None
    predictions: list[int] | None = None
    confidences: list[float] | None = None
    model_name: str | None = None
    layer_names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.layer_names = [layer.name for layer in self.layers]

    def image_title(self, n: int) -> str:
        """A column title for image ``n``: its label and the model's prediction where known."""
        def name(c: int) -> str:
            return self.class_names[c] if self.class_names and 0 <= c < len(self.class_names) else str(c)

        parts = [f"image {n + 1}"]
        if self.labels is not None:
            parts.append(f"label: {name(self.labels[n])}")
        if self.predictions is not None:
            conf = f" ({self.confidences[n]:.0%})" if self.confidences is not None else ""
            parts.append(f"pred: {name(self.predictions[n])}{conf}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        w = self.filters
        return {
            "model": self.model_name,
            "n_images": int(self.images.shape[0]),
            "image_shape": list(self.images.shape[1:]),
            "n_channels": self.n_channels,
            "labels": self.labels,
            "class_names": self.class_names,
            "predictions": self.predictions,
            "confidences": self.confidences,
            "layers": [layer.to_dict() for layer in self.layers],
            "filters": {
                "layer": self.filter_layer, "shape": list(w.shape),
                "norm": [float(np.linalg.norm(f)) for f in w],
                "min": float(w.min()), "max": float(w.max()),
            },
        }


def choose_images(labels: Sequence[int], n: int = 3, seed: int = 0) -> list[int]:
    """Indices of ``n`` images of distinct classes (as far as possible), drawn reproducibly."""
    labels = np.asarray(labels)
    if len(labels) < n:
        raise ValueError(f"need at least {n} images, got {len(labels)}")
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    seen: set[int] = set()
    for index in rng.permutation(len(labels)):
        if int(labels[index]) not in seen:
            chosen.append(int(index))
            seen.add(int(labels[index]))
        if len(chosen) == n:
            return chosen
    rest = [int(i) for i in rng.permutation(len(labels)) if int(i) not in chosen]
    return chosen + rest[:n - len(chosen)]


def feature_maps(
    model: Any,
    images: Any,
    *,
    n_channels: int = 5,
    kinds: Sequence[str] = DEFAULT_KINDS,
    include_relu: bool = False,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    display: np.ndarray | None = None,
    model_name: str | None = None,
) -> FeatureMapsResult:
    """Feature maps after every conv and pooling layer (and ReLU if ``include_relu``) for ``images``.

    ``images`` are the model's inputs ``(N, C, H, W)`` (float, as used in training, e.g. standardised);
    ``display`` optionally gives the same images for showing (uint8 or float; default: the inputs scaled per image
    to [0, 1]). The first ``n_channels`` channels of each layer are kept (fewer if the layer has fewer).
    """
    if not isinstance(n_channels, int) or n_channels < 1:
        raise ValueError(f"n_channels must be a positive integer, got {n_channels!r}")
    x = _check_images(images)
    wanted = set(kinds) | ({"relu"} if include_relu else set())
    unknown = wanted - {"conv", "pool", "relu", "linear", "flatten", "other"}
    if unknown:
        raise ValueError(f"unknown layer kinds {sorted(unknown)}; use conv, pool, relu")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(x)} images but {len(labels)} labels")
    kinds_by_name = {name: layer_kind(layer) for name, layer in named_layers(model)}
    outputs = layer_activations(model, x)
    layers = []
    for name, out in outputs.items():
        kind = kinds_by_name[name]
        if kind not in wanted or out.ndim != 4:
            continue
        k = min(n_channels, out.shape[1])
        raw = out[:, :k].astype(np.float64)
        lo, hi = raw.min(axis=(2, 3)), raw.max(axis=(2, 3))
        layers.append(LayerMaps(
            name=name, kind=kind, shape=tuple(int(s) for s in out.shape), channels=list(range(k)),
            maps=normalize_maps(raw), raw_min=lo, raw_max=hi, raw_mean=raw.mean(axis=(2, 3)),
            zero_fraction=(raw == 0).mean(axis=(2, 3)), constant=(hi - lo) <= 1e-12,
        ))
    if not layers:
        raise ValueError(f"no layer of kinds {sorted(wanted)} with (N, C, H, W) output in the model "
                         f"(layers: {dict(kinds_by_name)})")
    filter_layer, filters = first_conv(model)
    predictions = confidences = None
    last = next(reversed(outputs.values()))
    if last.ndim == 2:
        z = last.astype(np.float64) - last.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        predictions = [int(i) for i in p.argmax(axis=1)]
        confidences = [float(v) for v in p.max(axis=1)]
    shown = display_images(display if display is not None else x)
    if shown.shape[0] != x.shape[0]:
        raise ValueError(f"display has {shown.shape[0]} images but images has {x.shape[0]}")
    return FeatureMapsResult(
        images=shown, layers=layers, filter_layer=filter_layer, filters=filters, n_channels=n_channels,
        labels=None if labels is None else [int(v) for v in labels],
        class_names=None if class_names is None else list(class_names),
        predictions=predictions, confidences=confidences, model_name=model_name,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------------------------------------

def _figure_items(figure_paths: Any) -> list[tuple[str, Any]]:
    if figure_paths is None:
        return []
    if isinstance(figure_paths, dict):
        return list(figure_paths.items())
    return [(str(i), p) for i, p in enumerate(figure_paths)]


FIGURE_CAPTIONS = {
    "feature_maps": "Feature maps: rows are layer x channel, columns are the images (input on top). Every map is "
                    "normalised to [0, 1] on its own, so brightness compares positions within one map, not maps.",
    "filters": "The learned filters of the first convolution, each scaled to [0, 1] on its own (all input channels "
               "together, so an RGB filter shows the colour it responds to).",
}


def section(result: FeatureMapsResult, figure_paths: Any = None, *, seconds: float | None = None,
            settings: dict[str, Any] | None = None) -> Any:
    """The report section of seed 000 task 3.3 (a :class:`cnnlab.report.Section`).

    ``figure_paths``: the mapping returned by :func:`cnnlab.plots.featuremaps.save_figures` (or a list of paths).
    """
    from cnnlab.report import Figure, Section, Table

    rows = []
    for layer in result.layers:
        frac_zero = float(layer.zero_fraction.mean())
        n_const = int(layer.constant.sum())
        rows.append([layer.name, layer.kind, " x ".join(str(s) for s in layer.shape[1:]), len(layer.channels),
                     f"{float(layer.raw_min.min()):.3g} .. {float(layer.raw_max.max()):.3g}",
                     f"{frac_zero:.0%}", n_const])
    table = Table(
        columns=["layer", "kind", "output (C x H x W)", "channels shown", "raw range", "zero pixels",
                 "constant maps"],
        rows=rows,
        caption="Shown layers and their activations before normalisation (over the shown images and channels).",
    )
    image_lines = [result.image_title(n).replace("\n", ", ") for n in range(result.images.shape[0])]
    w = result.filters
    paragraphs = [
        "Images: " + "; ".join(image_lines) + ".",
        f"First-layer filters ({result.filter_layer}): {w.shape[0]} filters of {w.shape[1]} x {w.shape[2]} x "
        f"{w.shape[3]}, weights between {float(w.min()):.3g} and {float(w.max()):.3g}.",
        "Reading the maps: each map is scaled on its own, so a bright spot means 'strongest response of this "
        "channel for this image', not a large value in absolute terms; the raw range in the table gives the scale. "
        "As the seed warns, patterns seen in a few maps (a channel that lights up on edges, or on eyes) are "
        "hypotheses, not findings: testing them needs many images and a measurement.",
    ]
    zero_layers = [layer for layer in result.layers if float(layer.zero_fraction.mean()) > 0.5]
    if zero_layers:
        paragraphs.append("Mostly zero after ReLU/pooling (more than half of the pixels are 0): "
                          + ", ".join(f"{layer.name} ({float(layer.zero_fraction.mean()):.0%})"
                                      for layer in zero_layers) + ".")
    figures = [Figure(path, FIGURE_CAPTIONS.get(key, "")) for key, path in _figure_items(figure_paths)]
    return Section(
        title="Feature maps and filters (seed 000, task 3.3)",
        intro=(f"The activations of {result.images.shape[0]} images after every convolution and pooling layer"
               + (f" of the trained {result.model_name}" if result.model_name else "")
               + f", first {result.n_channels} channels of each, every map normalised to [0, 1] individually; "
                 "and the learned first-layer filters."),
        paragraphs=paragraphs,
        tables=[table],
        figures=figures,
        settings=dict(settings or {}, n_channels=result.n_channels, layers=", ".join(result.layer_names)),
        seconds=seconds,
        skipped=None,
    )
