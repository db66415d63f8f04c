"""The seeds' networks, each defined once and built from any layer family.

A *layer family* is a namespace of layer classes with torch's constructor signatures:

- ``"torch"``: ``torch.nn`` itself (the library reference);
- ``"torch-own"``: cnnlab's own ``torch_nn.Linear`` / ``torch_nn.Conv2d`` with ``torch.nn`` for the rest;
- ``"numpy"``: the NumPy engine ``cnnlab.numpy_nn`` (hand-written forward and backward).

All families name their layers alike, so ``state_dict`` keys (``conv1.weight``, ``fc3.bias``, ...) and shapes are
identical and weights move freely between them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

ENGINES = ("torch", "torch-own", "numpy")


def layer_family(engine: str, conv_algorithm: str | None = None) -> SimpleNamespace:
    """The layer classes of ``engine`` (one of :data:`ENGINES`).

    ``conv_algorithm`` selects the own ``Conv2d``'s algorithm (``"naive"``, ``"im2col"``, ...); it is an error for
    the ``"torch"`` family, whose convolution is the library's.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "torch":
        if conv_algorithm is not None:
            raise ValueError("conv_algorithm applies to the own layers ('torch-own', 'numpy'), not to engine 'torch'")
        from torch import nn

        return SimpleNamespace(Conv2d=nn.Conv2d, Linear=nn.Linear, ReLU=nn.ReLU, MaxPool2d=nn.MaxPool2d,
                               Flatten=nn.Flatten, Sequential=nn.Sequential)
    if engine == "torch-own":
        from torch import nn

        from cnnlab import torch_nn

        conv = torch_nn.Conv2d
        return SimpleNamespace(Conv2d=_with_algorithm(conv, conv_algorithm), Linear=torch_nn.Linear, ReLU=nn.ReLU,
                               MaxPool2d=nn.MaxPool2d, Flatten=nn.Flatten, Sequential=nn.Sequential)
    from cnnlab import numpy_nn

    return SimpleNamespace(Conv2d=_with_algorithm(numpy_nn.Conv2d, conv_algorithm), Linear=numpy_nn.Linear,
                           ReLU=numpy_nn.ReLU, MaxPool2d=numpy_nn.MaxPool2d, Flatten=numpy_nn.Flatten,
                           Sequential=numpy_nn.Sequential)


def _with_algorithm(conv_cls: type, algorithm: str | None) -> Callable[..., Any]:
    if algorithm is None:
        return conv_cls
    return lambda *args, **kwargs: conv_cls(*args, algorithm=algorithm, **kwargs)


def lenet(nn: SimpleNamespace) -> Any:
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


def mnist_cnn(nn: SimpleNamespace) -> Any:
    """Seed 004's MNIST CNN: (N, 1, 28, 28) -> (N, 10) logits, 5,805 parameters.

    conv 1->5 (k4, s2, p1) -> (5, 14, 14), ReLU; conv 5->10 (k4, s2, p1) -> (10, 7, 7), ReLU; fc 490->10.
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 5, 4, stride=2, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(5, 10, 4, stride=2, padding=1)), ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(10 * 7 * 7, 10)),
    ]))


def mnist_mlp(nn: SimpleNamespace) -> Any:
    """The MLP baseline of seed 004's equivariance experiment: (N, 1, 28, 28) -> (N, 10), 79,510 parameters.

    flatten 784, fc 784->100, ReLU, fc 100->10. No convolution, hence no built-in translation equivariance.
    """
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(28 * 28, 100)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(100, 10)),
    ]))


@dataclass(frozen=True)
class ModelInfo:
    """What a model is for: its builder, dataset and input shape ``(C, H, W)``."""

    name: str
    build: Callable[[SimpleNamespace], Any]
    dataset: str
    input_shape: tuple[int, int, int]
    summary: str


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("lenet", lenet, "cifar10", (3, 32, 32), "seed 000 LeNet: conv8-pool-conv16-pool-fc128-fc64-fc10"),
        ModelInfo("mnist-cnn", mnist_cnn, "mnist", (1, 28, 28), "seed 004 CNN: conv5 s2, conv10 s2, fc 490->10"),
        ModelInfo("mnist-mlp", mnist_mlp, "mnist", (1, 28, 28), "seed 004 MLP baseline: fc 784->100->10"),
    )
}


def build_model(name: str, engine: str = "torch", conv_algorithm: str | None = None, seed: int | None = None) -> Any:
    """Build model ``name`` (a key of :data:`MODELS`) from ``engine``'s layers.

    ``seed`` fixes the initial weights: torch's global generator for the torch families, NumPy's default
    initialisation generator for the NumPy engine (``cnnlab.numpy_nn.init.manual_seed``).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    family = layer_family(engine, conv_algorithm)
    if seed is not None:
        if engine == "numpy":
            from cnnlab.numpy_nn import init

            init.manual_seed(seed)
        else:
            import torch

            torch.manual_seed(seed)
    return MODELS[name].build(family)


def count_parameters(model: Any) -> int:
    """Number of scalar parameters of a model of any family."""
    return sum(int(p.numel()) if hasattr(p, "numel") else int(p.data.size) for p in model.parameters())
