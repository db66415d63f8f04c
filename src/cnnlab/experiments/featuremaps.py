"""Assignment 000, task 3.3: intermediate feature maps and first-layer filters of a trained network.

For a few images, the activations after every convolution and every pooling layer (optionally every ReLU) are
collected, the first ``n_channels`` channels of each kept, and every map min-max normalised to [0, 1] on its own
(a constant map becomes all zeros, never NaN). The learned filters of the first convolution come along.

Works for any engine: a ``torch.nn.Sequential`` (run under ``no_grad`` in eval mode, on the model's device) or a
``cnnlab.numpy_nn`` ``Sequential`` (layers called on float32 arrays). Only ``named_children()`` is needed, so any
sequential container whose children are applied in order will do.

The per-layer helpers live in :mod:`cnnlab.models.introspect` (shared with the equivariance experiment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import data
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context, Experiment
from cnnlab.models import Model
from cnnlab.models.introspect import LAYER_KINDS, check_images, first_conv, layer_activations, layer_kind, named_layers
from cnnlab.options import Validated, option

#: Layer kinds whose outputs are feature maps worth showing, by default.
DEFAULT_KINDS = ("conv", "pool")


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


def choose_images(labels: Sequence[int] | np.ndarray, n: int = 3, seed: int = 0) -> list[int]:
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
    model: Model,
    images: Any,
    *,
    n_channels: int = 5,
    kinds: Sequence[str] = DEFAULT_KINDS,
    include_relu: bool = False,
    labels: Sequence[int] | np.ndarray | None = None,
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
    x = check_images(images)
    wanted = set(kinds) | ({"relu"} if include_relu else set())
    unknown = wanted - set(LAYER_KINDS)
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


@dataclass(frozen=True)
class FeatureMapsSettings(Validated):
    """Which trained network, how many images and channels, and which images (by seed)."""

    weights: Path | None = option(None, "Folder of a 'cnnlab train' run with a CNN [default: the run's own "
                                  "CIFAR-10 LeNet, or --train].", metavar="RUN_DIR")
    images: int = option(3, "Test images to show.", minimum=1, maximum=10)
    channels: int = option(5, "Channels per layer.", minimum=1)
    seed: int = option(0, "Picks the test images.", minimum=0)


@dataclass
class FeatureMapsRun:
    """The experiment's result: the feature maps and the run folder of the network they come from."""

    maps: FeatureMapsResult
    weights: Path

    def to_dict(self) -> dict[str, Any]:
        return {**self.maps.to_dict(), "weights": str(self.weights)}


def run(settings: FeatureMapsSettings, context: Context) -> FeatureMapsRun:
    """Assignment 000 task 3.3 on a trained CNN (default: the ``cifar-lenet`` recipe's) and test images of distinct
    classes."""
    network = context.network("cifar-lenet", settings.weights, purpose="featuremaps")
    model = network.load()
    if not any(layer_kind(layer) == "conv" for _, layer in named_layers(model)):
        raise UserError(f"{network.folder}: the {network.config.model} network has no convolution, so it has no "
                        "feature maps; use a CNN run (e.g. cnnlab train --recipe cifar-lenet or mnist-seed)")
    test = context.dataset(network.config.dataset, "test")
    chosen = choose_images(test.labels, n=settings.images, seed=settings.seed)
    x, _ = data.prepare(test, network.config.normalization)
    maps = feature_maps(model, x[chosen], n_channels=settings.channels, labels=test.labels[chosen],
                        class_names=test.classes, display=test.images[chosen],
                        model_name=f"{network.config.model} ({network.config.dataset})")
    return FeatureMapsRun(maps, network.folder)


EXPERIMENT = Experiment("featuremaps", "Feature maps and filters (assignment 000, task 3.3)",
                        "Assignment 000 task 3.3: feature maps after every conv and pooling layer, and the learned "
                        "first-layer filters.", FeatureMapsSettings, run, uses_networks=True)
