"""The test images a page embeds, chosen balanced over the classes, and the reference numbers computed on them.

Pixels travel as uint8 ``(N, C, H, W)`` in base64; the page turns pixel ``p`` into ``p / 255`` (an input in
[0, 1]) and then into each network's input ``(p / 255 - mean[c]) / std[c]``, exactly as
:func:`model_inputs` does here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab import data
from cnnlab.explore.export import ExportedNetwork, encode_array
from cnnlab.models import Model
from cnnlab.training import predict


@dataclass
class Samples:
    """Embedded images: ``images`` uint8 ``(N, C, H, W)``, ``labels`` ``(N,)``, the dataset's ``classes``,
    ``indices`` (their positions in the test split), the dataset's ``name`` and ``title`` (``"CIFAR-10"``)."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    indices: list[int]
    name: str
    title: str

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"Samples.images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"Samples.labels must be ({len(self.images)},), got {self.labels.shape}")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def to_json(self) -> dict[str, Any]:
        return {"count": len(self.images), "shape": list(self.image_shape), "pixels": encode_array(self.images, "u1"),
                "labels": [int(v) for v in self.labels], "indices": list(self.indices)}


def choose_samples(labels: Sequence[int] | np.ndarray, n: int, seed: int = 0) -> list[int]:
    """``n`` indices into ``labels``, drawn reproducibly and balanced over the classes: one image of every class
    in class order, then a second of every class, and so on (classes that run out are passed over)."""
    labels = np.asarray(labels)
    if n < 1:
        raise ValueError(f"choose_samples: n must be at least 1, got {n}")
    if len(labels) < n:
        raise ValueError(f"choose_samples: asked for {n} images but the split holds only {len(labels)}")
    order = np.random.default_rng(seed).permutation(len(labels))
    queues = {int(c): [int(i) for i in order if labels[i] == c] for c in np.unique(labels)}
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues.values():
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return chosen


def samples_from(dataset: data.Dataset, n: int, seed: int = 0) -> Samples:
    """:func:`choose_samples` of a loaded split."""
    chosen = choose_samples(dataset.labels, n, seed)
    title = dataset.spec.title if dataset.spec is not None else dataset.name
    return Samples(dataset.images[chosen], dataset.labels[chosen], list(dataset.classes), chosen, dataset.name, title)


def model_inputs(images: np.ndarray, network: ExportedNetwork) -> np.ndarray:
    """uint8 images ``(N, C, H, W)`` as ``network``'s float32 inputs: ``(p / 255 - mean[c]) / std[c]``."""
    return data.standardize(images, network.mean, network.std)


def probabilities(model: Model, x: np.ndarray) -> np.ndarray:
    """Softmax of ``model``'s logits for inputs ``x`` ``(N, C, H, W)``, in float64 ``(N, classes)``."""
    logits = predict(model, x).astype(np.float64)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def with_reference(network: ExportedNetwork, model: Model, samples: Samples) -> ExportedNetwork:
    """``network`` with the class probabilities ``model`` (the same network, e.g. from the NumPy engine) gives the
    embedded images (:attr:`ExportedNetwork.reference`); the page compares its own numbers with them on load."""
    network.reference = probabilities(model, model_inputs(samples.images, network))
    return network
