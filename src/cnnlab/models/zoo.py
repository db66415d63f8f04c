"""The seeds' networks, each defined once and built from any layer family (:mod:`cnnlab.models.families`).

Every definition names its layers (``conv1``, ``relu1``, ``pool1``, ..., ``fc3``), so ``state_dict`` keys are
identical across families and weights move freely between them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from cnnlab.models.families import FAMILIES, get_family
from cnnlab.models.protocol import Model


def lenet(nn: SimpleNamespace) -> Model:
    """Seed 000's LeNet-style CIFAR-10 net: (N, 3, 32, 32) -> (N, 10) logits, 64,058 parameters.

    conv 8@5x5, ReLU, maxpool 2 -> (8, 14, 14); conv 16@5x5, ReLU, maxpool 2 -> (16, 5, 5);
    fc 400->128, ReLU, fc 128->64, ReLU, fc 64->10.
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 5)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 16, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 5 * 5, 128)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(128, 64)), ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(64, 10)),
    ]))


def mnist_cnn(nn: SimpleNamespace) -> Model:
    """Seed 004's MNIST CNN: (N, 1, 28, 28) -> (N, 10) logits, 5,805 parameters.

    conv 1->5 (k4, s2, p1) -> (5, 14, 14), ReLU; conv 5->10 (k4, s2, p1) -> (10, 7, 7), ReLU; fc 490->10.
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 5, 4, stride=2, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(5, 10, 4, stride=2, padding=1)), ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(10 * 7 * 7, 10)),
    ]))


def mnist_mlp(nn: SimpleNamespace) -> Model:
    """The MLP baseline of seed 004's equivariance experiment, as the exercise defines it: (N, 1, 28, 28) ->
    (N, 10), 23,860 parameters.

    flatten 784, fc 784->30, ReLU, fc 30->10. No convolution, hence no built-in translation equivariance.
    """
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(28 * 28, 30)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(30, 10)),
    ]))


@dataclass(frozen=True)
class ModelInfo:
    """What a model is for: its builder, the dataset it is made for, and a one-line summary."""

    name: str
    build: Callable[[SimpleNamespace], Model]
    dataset: str
    summary: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one input: the dataset's image shape."""
        from cnnlab.data import get_dataset

        return get_dataset(self.dataset).image_shape


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("lenet", lenet, "cifar10", "seed 000 LeNet: conv8-pool-conv16-pool-fc128-fc64-fc10"),
        ModelInfo("mnist-cnn", mnist_cnn, "mnist", "seed 004 CNN: conv5 s2, conv10 s2, fc 490->10"),
        ModelInfo("mnist-mlp", mnist_mlp, "mnist", "seed 004 MLP baseline: fc 784->30->10"),
    )
}


def get_model_info(name: str) -> ModelInfo:
    """The entry of :data:`MODELS` called ``name``; ``ValueError`` listing the choices otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, engine: str = "torch", conv_algorithm: str | None = None,
                seed: int | None = None) -> Model:
    """Build model ``name`` (a key of :data:`MODELS`) from ``engine``'s layers (a key of ``FAMILIES``).

    ``seed`` fixes the initial weights (the family's generator: torch's global one, or the NumPy engine's).
    """
    info = get_model_info(name)
    family = get_family(engine)
    layers = family.layers(conv_algorithm)
    if seed is not None:
        family.manual_seed(seed)
    return info.build(layers)


def build_torch_model(name: str, engine: str = "torch", conv_algorithm: str | None = None,
                      seed: int | None = None) -> torch.nn.Module:
    """:func:`build_model` for the torch families (``torch``, ``torch-own``), typed as the ``nn.Module`` it is."""
    model = build_model(name, engine, conv_algorithm, seed)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"engine {engine!r} does not build torch modules; use one of "
                         f"{', '.join(f for f, family in FAMILIES.items() if family.autograd)}")
    return model


def count_parameters(model: Model) -> int:
    """Number of scalar parameters of a model of any family."""
    return sum(int(p.numel()) for p in model.parameters())
