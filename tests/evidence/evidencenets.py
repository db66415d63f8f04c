"""Hand-built networks and images where the evidence is known, in both engines.

**The pattern detector** (images 1x12x12, classes 0/1/2):

- class 0: a plus sign (3x3 cross) of intensity 0.8..1.2 at a random place; class 1: a full 3x3 square of 1;
  class 2: a 3x3 square of 0.3 (on black);
- ``conv1`` channel 0 is a matched filter (+2 on the cross, -2 off it, bias -5): it fires (``10a - 5 > 0``) only
  on the cross; channel 1 is the 3x3 mean (brightness);
- after ReLU a global max pool gives ``f0`` (cross found) and ``f1`` (brightest 3x3 mean); ``fc``: score0 =
  ``2 f0 - 1``, score1 = ``6 f1 - 4.5``, score2 = 0. Every image is classified right; zeroing channel 0 turns every
  class-0 image into class 2 and changes nothing else; zeroing channel 1 turns every class-1 image into class 2.

**The quadrant net** (images 1x8x8): a 4x4 stride-4 conv, then only the top-left output cell reaches the logits,
so the network sees the top-left 4x4 quadrant and nothing else.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from cnnlab import numpy_nn

PATTERN = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.float32)
CLASSES = ["cross", "bright", "dim"]


def detector_torch() -> nn.Sequential:
    conv = nn.Conv2d(1, 2, 3)
    fc = nn.Linear(2, 3)
    with torch.no_grad():
        conv.weight[0, 0] = torch.from_numpy(np.where(PATTERN > 0, 2.0, -2.0).astype(np.float32))
        conv.weight[1, 0] = 1 / 9
        conv.bias.copy_(torch.tensor([-5.0, 0.0]))
        fc.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 6.0], [0.0, 0.0]]))
        fc.bias.copy_(torch.tensor([-1.0, -4.5, 0.0]))
    return nn.Sequential(OrderedDict([("conv1", conv), ("relu1", nn.ReLU()), ("pool", nn.MaxPool2d(10)),
                                      ("flatten", nn.Flatten()), ("fc", fc)]))


def detector_numpy() -> numpy_nn.Sequential:
    model = numpy_nn.Sequential(OrderedDict([
        ("conv1", numpy_nn.Conv2d(1, 2, 3)), ("relu1", numpy_nn.ReLU()), ("pool", numpy_nn.MaxPool2d(10)),
        ("flatten", numpy_nn.Flatten()), ("fc", numpy_nn.Linear(2, 3)),
    ]))
    model.load_state_dict(detector_torch().state_dict())
    return model


DETECTORS = {"torch": detector_torch, "numpy": detector_numpy}


def detector_images(per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images (3n, 1, 12, 12) float32, labels (3n,), top-left corners (3n, 2))``, the classes interleaved."""
    rng = np.random.default_rng(seed)
    n = 3 * per_class
    x = np.zeros((n, 1, 12, 12), dtype=np.float32)
    labels = np.arange(n) % 3
    corners = rng.integers(0, 10, size=(n, 2))
    for i, (label, (y, xx)) in enumerate(zip(labels, corners, strict=True)):
        if label == 0:
            x[i, 0, y:y + 3, xx:xx + 3] = PATTERN * rng.uniform(0.8, 1.2)
        else:
            x[i, 0, y:y + 3, xx:xx + 3] = 1.0 if label == 1 else 0.3
    return x, labels, corners


def quadrant_torch(seed: int = 0) -> nn.Sequential:
    generator = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(1, 1, 4, stride=4)
    fc = nn.Linear(4, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(1, 1, 4, 4, generator=generator) + 0.5)
        conv.bias.zero_()
        fc.weight.zero_()
        fc.weight[0, 0], fc.weight[1, 0] = 1.0, -1.0  # only the top-left cell of the 2x2 map counts
        fc.bias.zero_()
    return nn.Sequential(OrderedDict([("conv1", conv), ("flatten", nn.Flatten()), ("fc", fc)]))


def quadrant_numpy(seed: int = 0) -> numpy_nn.Sequential:
    model = numpy_nn.Sequential(OrderedDict([("conv1", numpy_nn.Conv2d(1, 1, 4, stride=4)),
                                             ("flatten", numpy_nn.Flatten()), ("fc", numpy_nn.Linear(4, 2))]))
    model.load_state_dict(quadrant_torch(seed).state_dict())
    return model


QUADRANTS = {"torch": quadrant_torch, "numpy": quadrant_numpy}
