"""Builders for the explorer tests: run folders of untrained seed networks (fixed seeds, weights scaled up so the
class probabilities spread out), a network with every geometry the page must handle, and synthetic images."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnlab.explore import Samples
from cnnlab.models import build_torch_model
from cnnlab.training import TrainConfig

#: Untrained weights times this: logits of a few units, so probabilities are far from uniform.
WEIGHT_SCALE = 2.5


def seed_network(model: str, seed: int = 0) -> nn.Module:
    """The seed architecture ``model`` from torch.nn with seeded initial weights times :data:`WEIGHT_SCALE`."""
    network = build_torch_model(model, "torch", seed=seed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.mul_(WEIGHT_SCALE)
    return network.eval()


def write_run(folder: Path, model: str, *, seed: int = 0, normalization: str = "unit") -> Path:
    """A folder as ``cnnlab train`` leaves it (``model.pt`` of tensors + ``config.json``), without training."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(seed_network(model, seed).state_dict(), folder / "model.pt")
    config = TrainConfig(model=model, engine="numpy", normalization=normalization, seed=seed)
    (folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    return folder


def geometry_network(seed: int = 3) -> nn.Sequential:
    """A (1, 28, 28) -> 10 torch.nn network with what the seed networks lack: non-square kernels, strides and
    padding, dilation, 'same' padding of an even kernel (one pixel more at the bottom/right), overlapping and padded
    max pooling, a dilated pool whose stride does not divide the map, and a convolution without bias."""
    torch.manual_seed(seed)
    network = geometry_layers(nn)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.mul_(WEIGHT_SCALE)
    return network.eval()


def geometry_layers(layers: Any) -> Any:
    """The layers of :func:`geometry_network` from a layer family's namespace (``torch.nn`` or the NumPy
    engine's), so the same network exists in both engines (copy the weights with ``load_state_dict``)."""
    return layers.Sequential(OrderedDict([
        ("conv1", layers.Conv2d(1, 3, (3, 2), stride=(2, 1), padding=(2, 1), dilation=(2, 1))),  # -> 3 x 14 x 29
        ("relu1", layers.ReLU()),
        ("pool1", layers.MaxPool2d(3, stride=2, padding=1)),  # overlapping, padded -> 3 x 7 x 15
        ("conv2", layers.Conv2d(3, 4, 4, padding="same", bias=False)),  # even kernel: 1 before, 2 after
        ("relu2", layers.ReLU()),
        ("pool2", layers.MaxPool2d(2, stride=3, dilation=2)),  # -> 4 x 2 x 5
        ("flatten", layers.Flatten()),
        ("fc", layers.Linear(4 * 2 * 5, 10)),
    ]))


def numpy_geometry_network(seed: int = 3) -> Any:
    """:func:`geometry_network` in the NumPy engine, with the same weights."""
    from cnnlab.models import get_family

    network = geometry_layers(get_family("numpy").layers())
    network.load_state_dict(geometry_network(seed).state_dict())
    return network


def synthetic_samples(shape: tuple[int, int, int], n: int = 12, n_classes: int = 10, seed: int = 0,
                      name: str = "mnist", title: str = "MNIST") -> Samples:
    """``n`` images of ``shape`` with a bright random rectangle on a dark noisy background; labels 0, 1, 2, ..."""
    rng = np.random.default_rng(seed)
    images = (rng.random((n, *shape)) * 40).astype(np.uint8)
    for k in range(n):
        top, left = rng.integers(2, shape[1] // 2, size=2)
        images[k, :, top:top + shape[1] // 3, left:left + shape[2] // 4] = rng.integers(150, 256)
    labels = np.arange(n) % n_classes
    classes = [f"class {c}" for c in range(n_classes)]
    return Samples(images, labels, classes, list(range(n)), name, title)
