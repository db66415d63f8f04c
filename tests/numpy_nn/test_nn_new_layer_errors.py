"""The layers added with issue 12 fail like the assignments' layers do: backward before forward, a gradient of the wrong
shape, torch tensors and uint8 images -- each with a message naming the layer and what to do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab import numpy_nn as nn

#: (layer, a valid input)
CASES = [
    (nn.Conv1d(2, 3, 3), np.ones((2, 2, 6), np.float32)),
    (nn.BatchNorm1d(4), np.ones((3, 4), np.float32)),
    (nn.BatchNorm2d(2), np.ones((2, 2, 3, 3), np.float32)),
    (nn.LayerNorm(4), np.ones((3, 4), np.float32)),
    (nn.GroupNorm(2, 4), np.ones((2, 4, 3), np.float32)),
    (nn.AdaptiveAvgPool2d(2), np.ones((1, 2, 5, 5), np.float32)),
    (nn.AdaptiveMaxPool2d(2), np.ones((1, 2, 5, 5), np.float32)),
    (nn.LeakyReLU(), np.ones((2, 3), np.float32)),
    (nn.Sigmoid(), np.ones((2, 3), np.float32)),
    (nn.Tanh(), np.ones((2, 3), np.float32)),
    (nn.GELU(), np.ones((2, 3), np.float32)),
    (nn.Softmax(1), np.ones((2, 3), np.float32)),
    (nn.LogSoftmax(1), np.ones((2, 3), np.float32)),
    (nn.Residual(nn.Linear(3, 3)), np.ones((2, 3), np.float32)),
]


@pytest.mark.parametrize("layer, x", CASES, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_backward_before_forward_and_wrong_gradient_shape(layer, x):
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        layer.backward(np.zeros_like(x))
    y = layer(x)
    with pytest.raises(ValueError, match=r"backward expected grad_out of shape"):
        layer.backward(np.zeros((*np.shape(y), 2), np.float32))


@pytest.mark.parametrize("layer, x", [c for c in CASES if not isinstance(c[0], nn.Residual)],
                         ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_torch_tensors_and_uint8_are_refused_with_a_hint(layer, x):
    with pytest.raises(TypeError, match=r"torch.Tensor.*x.detach\(\).cpu\(\).numpy\(\)"):
        layer(torch.from_numpy(x))
    with pytest.raises(TypeError, match=r"uint8 images\? Convert with x.astype\(np.float32\) / 255"):
        layer(x.astype(np.uint8))


def test_nll_loss_backward_before_forward():
    with pytest.raises(RuntimeError, match=r"backward\(\) called before forward\(\)"):
        nn.NLLLoss().backward()
