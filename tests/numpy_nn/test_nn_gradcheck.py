"""Finite differences in float64 agree with every layer's and loss's hand-written backward."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import numpy_nn as nn
from cnnlab.numpy_nn import kernels


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CONV_CASES = [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=2, out_channels=2, kernel_size=(2, 3), stride=(2, 1), padding=(1, 2), bias=False),
    dict(in_channels=4, out_channels=2, kernel_size=2, dilation=2, groups=2, padding="same"),
    dict(in_channels=1, out_channels=2, kernel_size=3, padding=2, padding_mode="reflect", stride=2),
    dict(in_channels=1, out_channels=1, kernel_size=3, padding=1, padding_mode="replicate"),
    dict(in_channels=2, out_channels=1, kernel_size=(3, 2), padding=(2, 1), padding_mode="circular"),
]


@pytest.mark.parametrize("algorithm", nn.CONV_ALGORITHMS)
@pytest.mark.parametrize("args", CONV_CASES, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_conv2d(args, algorithm):
    layer = nn.Conv2d(**args, algorithm=algorithm)
    assert nn.gradcheck(layer, _x(2, args["in_channels"], 5, 4))
    assert layer.weight.data.dtype == np.float32  # restored after the float64 check


@pytest.mark.parametrize("layer", [
    nn.Linear(4, 3), nn.Linear(3, 2, bias=False), nn.ReLU(), nn.Flatten(),
    nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d((2, 3), stride=1, dilation=(2, 1)),
    nn.AvgPool2d(2), nn.AvgPool2d(3, stride=2, padding=1), nn.AvgPool2d(3, 2, 1, count_include_pad=False),
], ids=repr)
def test_other_layers(layer):
    x = _x(2, 4) if isinstance(layer, nn.Linear) and layer.in_features == 4 else (
        _x(3, 3) if isinstance(layer, nn.Linear) else _x(2, 2, 5, 6))
    if isinstance(layer, nn.ReLU | nn.MaxPool2d):
        x = x + 0.01 * np.sign(x)  # keep away from kinks and near-ties, where the derivative jumps
    assert nn.gradcheck(layer, x)


def test_dropout_with_a_fixed_mask():
    class FixedDropout(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Dropout(0.4)

        def forward(self, x):
            nn.init.manual_seed(7)  # the same mask on every call
            return self.inner(x)

        def backward(self, grad, *, need_input_grad=True):
            return self.inner.backward(grad, need_input_grad=need_input_grad)

    assert nn.gradcheck(FixedDropout(), _x(3, 5))


def test_losses():
    rng = np.random.default_rng(1)
    assert nn.gradcheck(nn.CrossEntropyLoss(), (rng.standard_normal((4, 5)), rng.integers(0, 5, 4)))
    assert nn.gradcheck(nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2),
                        (rng.standard_normal((3, 4)), rng.integers(0, 4, 3)))
    assert nn.gradcheck(nn.MSELoss(), (rng.standard_normal((3, 2)), rng.standard_normal((3, 2))))


def test_small_network():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 2, stride=2),
                          nn.Flatten(), nn.Linear(3, 2))
    assert nn.gradcheck(model, _x(2, 1, 4, 4) + 0.05)


def test_functions_with_their_own_backward():
    sides = ((1, 2), (2, 0))

    def padded(x):
        return kernels.pad2d(x, sides, "reflect"), lambda g: kernels.pad2d_backward(g, sides, "reflect")

    assert nn.gradcheck(padded, _x(1, 2, 4, 3))


def test_failure_names_the_worst_element():
    class WrongLinear(nn.Linear):
        def backward(self, grad, *, need_input_grad=True):
            dx = super().backward(grad, need_input_grad=need_input_grad)
            self.weight.grad[1, 2] += 0.5  # a planted mistake
            return dx

    with pytest.raises(nn.GradcheckError, match=r"worst element is weight\[1, 2\]: analytic .* vs numeric"):
        nn.gradcheck(WrongLinear(4, 3), _x(2, 4))

    def wrong_square(x):
        return x**2, lambda g: g * x  # should be 2 * g * x

    with pytest.raises(nn.GradcheckError, match=r"worst element is input\[\d+, \d+\]"):
        nn.gradcheck(wrong_square, _x(2, 3))
