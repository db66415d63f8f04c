"""Classic model code with every nn.Conv2d / nn.Linear swapped for cnnlab's: the same network in every respect.

Each architecture (``classic_models``, written from the papers) is built twice under one seed -- once from
``torch.nn``, once from ``cnnlab.torch_nn`` -- in narrow copies with the full structure, and compared in float64:
initial weights (the models' ``isinstance`` init loops must find the own layers), strict ``state_dict`` loading both
ways, eval and train outputs (train: the same Dropout masks and batch statistics under one seed), every gradient.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch_nn.classic_models import ARCHITECTURES, TORCH_LAYERS

from cnnlab import torch_nn

OWN_LAYERS = SimpleNamespace(Conv2d=torch_nn.Conv2d, Linear=torch_nn.Linear)

#: name -> (width, input size, extra builder arguments): narrow but complete copies; AlexNet needs 64 x 64 inputs.
TINY: dict[str, tuple[float, int, dict]] = {
    "tutorial-net": (1.0, 32, {}),
    "alexnet": (0.125, 64, {"hidden": 64}),
    "vgg11": (0.125, 32, {"hidden": 64}),
    "vgg11-bn": (0.125, 32, {"hidden": 64}),
    "resnet18": (0.125, 32, {}),
    "resnet50": (0.125, 32, {}),
    "resnext50-32x4d": (0.25, 32, {}),  # 32 groups need >= 1 channel per group
    "dilated-resnet50": (0.125, 32, {}),
    "deeplabv3-aspp": (0.125, 32, {}),
    "squeezenet1.1": (0.25, 32, {}),
    "mobilenet-v2": (0.25, 32, {}),
}


def build_pair(name: str, seed: int = 0) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """The torch.nn model, its twin from the own layers (each built after ``manual_seed(seed)``), an input batch."""
    width, size, extra = TINY[name]
    models = []
    for layers in (TORCH_LAYERS, OWN_LAYERS):
        torch.manual_seed(seed)
        models.append(ARCHITECTURES[name](layers, width, **extra).double())
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return models[0], models[1], x


def max_relative_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def test_every_architecture_has_a_tiny_configuration():
    assert set(TINY) == set(ARCHITECTURES)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_same_seed_gives_identical_initial_weights_and_state_dicts_load_both_ways(name):
    library, own, _ = build_pair(name)
    assert any(isinstance(m, torch_nn.Conv2d) for m in own.modules())
    assert not any(isinstance(m, torch_nn.Conv2d) for m in library.modules())
    reference = library.state_dict()
    assert list(own.state_dict()) == list(reference)
    for key, value in own.state_dict().items():
        assert torch.equal(value, reference[key]), f"{key}: initial values differ under the same seed"
    other_library, other_own, _ = build_pair(name, seed=5)
    other_own.load_state_dict(library.state_dict(), strict=True)
    other_library.load_state_dict(own.state_dict(), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(other_own.state_dict().values(), reference.values(), strict=True))


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_eval_and_train_outputs_and_all_gradients_match(name):
    library, own, x = build_pair(name)
    library.eval(), own.eval()
    with torch.no_grad():
        assert max_relative_difference(own(x), library(x)) < 1e-12, "eval outputs"
    library.train(), own.train()
    outputs, grads = [], []
    for model in (library, own):
        torch.manual_seed(11)  # the same Dropout masks iff the activations are laid out alike
        y = model(x)
        upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(3), dtype=y.dtype)
        outputs.append(y)
        grads.append(torch.autograd.grad(y, list(model.parameters()), upstream))
    assert max_relative_difference(outputs[1], outputs[0]) < 1e-10, "train outputs"
    # Relative to each gradient, and to the largest one for gradients that are zero up to rounding (a conv's bias
    # before a train-mode BatchNorm, which subtracts the mean).
    largest = max(g.abs().max().item() for g in grads[0])
    names = [n for n, _ in own.named_parameters()]
    for param_name, g_own, g_lib in zip(names, grads[1], grads[0], strict=True):
        bound = 1e-8 * g_lib.abs().max().item() + 1e-11 * largest
        assert (g_own - g_lib).abs().max().item() <= bound, f"gradient of {param_name}"


def test_dropout_right_after_a_conv_draws_the_same_mask():
    """Dropout fills its mask in memory order: a channels-last conv result would get another mask."""
    masks = []
    for layers in (TORCH_LAYERS, OWN_LAYERS):
        torch.manual_seed(0)
        model = nn.Sequential(layers.Conv2d(3, 6, 3), nn.Dropout(0.5), nn.Dropout2d(0.5))
        torch.manual_seed(1)
        masks.append(model(torch.ones(2, 3, 7, 7)) == 0)
    assert torch.equal(masks[0], masks[1])
