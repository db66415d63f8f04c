"""Faults the NumPy engine must refuse: a gradient check passes only with finite, present gradients, and every
backward checks the shape of the gradient it is handed (one of the same size but another shape included)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import numpy_nn as nn

X = np.random.default_rng(0).standard_normal((2, 3))


@pytest.mark.parametrize(("fn", "message"), [
    (lambda x: (x * 2, lambda g: g * np.nan), r"analytic gradient of input\[0, 0\] is nan"),
    (lambda x: (x * 2, lambda g: g * np.inf), r"analytic gradient of input\[0, 0\] is inf"),
    (lambda x: (x * 2, lambda g: None), r"backward returned no gradient \(None\) for input"),
    (lambda x: (np.sqrt(x), lambda g: g * 0.5 / np.sqrt(np.abs(x) + 1)), r"numeric gradient of input\[.*\] is nan"),
], ids=["nan", "inf", "none", "nan numeric"])
def test_gradcheck_fails_on_non_finite_or_missing_gradients(fn, message):
    with np.errstate(invalid="ignore"), pytest.raises(nn.GradcheckError, match=message):
        nn.gradcheck(fn, X)


def test_gradcheck_fails_when_one_of_several_float_inputs_gets_none():
    with pytest.raises(nn.GradcheckError, match=r"no gradient \(None\) for input 1"):
        nn.gradcheck(lambda a, b: (a * b, lambda g: (g * b, None)), (X, X.copy()))


def test_gradcheck_fails_when_a_module_returns_none():
    class NoGradient(nn.Module):
        def forward(self, x):
            return x * 3

        def backward(self, grad_out, *, need_input_grad=True):
            return None

    with pytest.raises(nn.GradcheckError, match=r"no gradient \(None\)"):
        nn.gradcheck(NoGradient(), X)


IMAGES = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)


@pytest.mark.parametrize(("layer", "x", "wrong", "training"), [
    (nn.Linear(4, 5), np.ones((2, 4), np.float32), (2, 4), True),
    (nn.Conv2d(3, 2, 3), IMAGES, (2, 2, 5, 5), True),
    (nn.MaxPool2d(2), IMAGES, (2, 3, 2, 2), True),
    (nn.AvgPool2d(2), IMAGES, (2, 3, 4, 4), True),
    (nn.ReLU(), IMAGES, (2, 3, 6, 5), True),
    (nn.Flatten(), IMAGES, (4, 54), True),  # the same number of elements, another shape
    (nn.Flatten(), IMAGES, (2, 10), True),
    (nn.Dropout(0.5), IMAGES, (2, 3, 6, 5), True),
    (nn.Dropout(0.5), IMAGES, (3, 3), False),  # evaluation mode: still checked
    (nn.Identity(), IMAGES, (7,), True),
    (nn.Sequential(nn.Flatten(), nn.Linear(108, 3)), IMAGES, (2, 4), True),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else None)
def test_every_backward_checks_the_shape_of_its_gradient(layer, x, wrong, training):
    layer.train(training)
    layer(x)
    with pytest.raises(ValueError, match=rf"backward expected grad_out of shape .*got \({wrong[0]}[,)]"):
        layer.backward(np.ones(wrong, np.float32))


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.MSELoss()], ids=["cross-entropy", "mse"])
def test_a_loss_takes_one_finite_number_as_its_upstream_gradient(loss):
    if isinstance(loss, nn.CrossEntropyLoss):
        loss(np.zeros((3, 4), np.float32), np.array([0, 1, 2]))
    else:
        loss(np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"backward expected grad_out to be a scalar .* got shape \(3,\)"):
        loss.backward(np.ones(3))
    with pytest.raises(ValueError, match="it must be finite"):
        loss.backward(np.nan)
    assert loss.backward(np.float64(2.0)).shape == (3, 4)


def test_nan_activations_raise_the_engines_non_finite_error():
    from cnnlab.numpy_nn._checks import NonFiniteError

    layer = nn.Linear(3, 2)
    with pytest.raises(NonFiniteError, match="input contains 1 non-finite value") as info:
        layer(np.array([[0.0, np.nan, 1.0]], np.float32))
    assert info.value.what == "input" and "Linear(in_features=3" in info.value.layer
