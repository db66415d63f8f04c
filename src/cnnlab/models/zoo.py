"""The networks, each defined once and built from any layer family (:mod:`cnnlab.models.families`): the assignments'
(LeNet, the MNIST CNN and MLP), a small modern CIFAR-10 ResNet, and the four nets of the BatchNorm/residual study.

Every definition names its layers (``conv1``, ``relu1``, ``pool1``, ..., ``fc3``), so ``state_dict`` keys are
identical across families and weights move freely between them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any

import torch

from cnnlab.models.families import FAMILIES, get_family
from cnnlab.models.protocol import Model


def lenet(nn: SimpleNamespace) -> Model:
    """Assignment 000's LeNet-style CIFAR-10 net: (N, 3, 32, 32) -> (N, 10) logits, 64,058 parameters.

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
    """Assignment 004's MNIST CNN: (N, 1, 28, 28) -> (N, 10) logits, 5,805 parameters.

    conv 1->5 (k4, s2, p1) -> (5, 14, 14), ReLU; conv 5->10 (k4, s2, p1) -> (10, 7, 7), ReLU; fc 490->10.
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 5, 4, stride=2, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(5, 10, 4, stride=2, padding=1)), ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(10 * 7 * 7, 10)),
    ]))


def mnist_mlp(nn: SimpleNamespace) -> Model:
    """The MLP baseline of assignment 004's equivariance experiment, as the exercise defines it: (N, 1, 28, 28) ->
    (N, 10), 23,860 parameters.

    flatten 784, fc 784->30, ReLU, fc 30->10. No convolution, hence no built-in translation equivariance.
    """
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(28 * 28, 30)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(30, 10)),
    ]))


def _conv_bn_relu(nn: SimpleNamespace, index: int | str, in_channels: int, out_channels: int,
                  batch_norm: bool = True) -> list[tuple[str, Any]]:
    """``conv<i>`` 3x3 (same size), ``bn<i>``, ``relu<i>``: the modern block (no conv bias before a BatchNorm, whose
    shift does the same job; with ``batch_norm=False`` the conv keeps its bias and there is no ``bn<i>``)."""
    layers = [(f"conv{index}", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm))]
    if batch_norm:
        layers.append((f"bn{index}", nn.BatchNorm2d(out_channels)))
    return [*layers, (f"relu{index}", nn.ReLU())]


def _basic_block(nn: SimpleNamespace, channels: int, batch_norm: bool = True, skip: bool = True) -> Model:
    """ResNet's basic block at constant width: ``conv-BN-ReLU-conv-BN`` (``block``), plus the input (the skip
    connection, when ``skip``). The ReLU after the sum is the caller's."""
    layers = _conv_bn_relu(nn, 1, channels, channels, batch_norm)
    layers.append(("conv2", nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm)))
    if batch_norm:
        layers.append(("bn2", nn.BatchNorm2d(channels)))
    block = nn.Sequential(OrderedDict(layers))
    return nn.Residual(block) if skip else block


def cifar_resnet(nn: SimpleNamespace) -> Model:
    """A small modern CIFAR-10 network: (N, 3, 32, 32) -> (N, 10) logits, 464,170 parameters.

    conv-BN-ReLU 32, maxpool -> (32, 16, 16); conv-BN-ReLU 64, maxpool -> (64, 8, 8); residual block 64 (two
    conv-BN, identity skip), ReLU; conv-BN-ReLU 128, maxpool -> (128, 4, 4); residual block 128, ReLU; global
    average pooling -> (128,); fc 128->10. Downsampling early keeps it cheap enough to train on a CPU.
    """
    return nn.Sequential(OrderedDict([
        *_conv_bn_relu(nn, 1, 3, 32), ("pool1", nn.MaxPool2d(2)),
        *_conv_bn_relu(nn, 2, 32, 64), ("pool2", nn.MaxPool2d(2)),
        ("res1", _basic_block(nn, 64)), ("relu3", nn.ReLU()),
        *_conv_bn_relu(nn, 4, 64, 128), ("pool4", nn.MaxPool2d(2)),
        ("res2", _basic_block(nn, 128)), ("relu5", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
        ("fc", nn.Linear(128, 10)),
    ]))


#: Width and number of blocks of the BatchNorm/residual study's nets.
STUDY_WIDTH, STUDY_BLOCKS = 16, 4


def bn_study_net(nn: SimpleNamespace, *, batch_norm: bool, skip: bool) -> Model:
    """The BatchNorm/residual study's CIFAR-10 net, with or without BatchNorm and with or without skip connections
    (the same convolutions either way): (N, 3, 32, 32) -> (N, 10).

    conv 16 stride 2 (+BN), ReLU, maxpool -> (16, 8, 8); four basic blocks of two 3x3 convs at width 16 (+BN), each
    with (or without) its identity skip, ReLU after each; global average pooling, fc 16->10. Nine convolutions deep
    -- deep enough that a plain net without normalisation trains noticeably worse -- on 8x8 maps, so that the
    study's many runs stay cheap on a CPU.
    """
    stem = nn.Conv2d(3, STUDY_WIDTH, 3, stride=2, padding=1, bias=not batch_norm)
    layers = [("conv1", stem), *([("bn1", nn.BatchNorm2d(STUDY_WIDTH))] if batch_norm else []),
              ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2))]
    for index in range(1, STUDY_BLOCKS + 1):
        layers += [(f"block{index}", _basic_block(nn, STUDY_WIDTH, batch_norm, skip)),
                   (f"relu_block{index}", nn.ReLU())]
    layers += [("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(STUDY_WIDTH, 10))]
    return nn.Sequential(OrderedDict(layers))


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
        ModelInfo("lenet", lenet, "cifar10", "assignment 000 LeNet: conv8-pool-conv16-pool-fc128-fc64-fc10"),
        ModelInfo("mnist-cnn", mnist_cnn, "mnist", "assignment 004 CNN: conv5 s2, conv10 s2, fc 490->10"),
                ModelInfo("mnist-mlp", mnist_mlp, "mnist", "assignment 004 MLP baseline: fc 784->30->10"),
        ModelInfo("cifar-resnet", cifar_resnet, "cifar10",
                  "small ResNet: conv-BN-ReLU 32-64 with pooling, residual block 64, conv-BN-ReLU 128, residual "
                  "block 128, global average pooling, fc 128->10"),
        *(ModelInfo(f"bnres-{variant}", partial(bn_study_net, batch_norm=bn, skip=skip), "cifar10",
                    f"BatchNorm/residual study net, {what}: conv 16 stride 2, pool, 4 blocks of two 3x3 convs at "
                    "width 16 on 8x8 maps, global average pooling, fc 16->10")
          for variant, bn, skip, what in (("plain", False, False, "no BatchNorm, no skip connections"),
                                          ("bn", True, False, "BatchNorm, no skip connections"),
                                          ("skip", False, True, "skip connections, no BatchNorm"),
                                          ("bn-skip", True, True, "BatchNorm and skip connections"))),
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
