"""Linear, ReLU, Flatten, Dropout and the losses equal torch's, forward and backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nnhelpers import assert_close, assert_same, rand, run_both, torch_twin

from cnnlab import numpy_nn as nn


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 9), st.integers(1, 9), st.booleans(), st.integers(0, 2**16),
       st.sampled_from([(), (3,), (2, 3)]))
def test_linear_matches_torch(batch, in_features, out_features, bias, seed, middle):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(in_features, out_features, bias=bias)
    twin = torch_twin(layer, torch.nn.Linear(in_features, out_features, bias=bias))
    ours, theirs = run_both(layer, twin, rand(rng, batch, *middle, in_features), rng=rng)
    assert_same(ours, theirs)


def test_relu_matches_torch_including_zero():
    x = np.array([[-1.0, 0.0, 2.0, -0.0, 3.5]], dtype=np.float32)
    ours, theirs = run_both(nn.ReLU(), torch.nn.ReLU(), x)
    assert_same(ours, theirs)
    assert ours["dx"][0, 1] == 0.0  # gradient at exactly zero is zero, as in torch


@pytest.mark.parametrize(("start", "end"), [(1, -1), (0, -1), (2, 3), (1, 2)])
def test_flatten_matches_torch(start, end):
    x = rand(np.random.default_rng(0), 2, 3, 4, 5)
    ours, theirs = run_both(nn.Flatten(start, end), torch.nn.Flatten(start, end), x)
    assert_same(ours, theirs)


def test_dropout_scales_masks_and_is_identity_in_eval():
    nn.init.manual_seed(0)
    layer = nn.Dropout(0.3)
    x = np.ones((200, 500), dtype=np.float32)
    y = layer(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    assert np.allclose(y[kept], 1 / 0.7)
    assert_close(layer.backward(x), y)  # same mask and scale for the gradient
    layer.eval()
    assert layer(x) is x and layer.backward(x) is x
    nn.init.manual_seed(0)
    assert np.array_equal(nn.Dropout(0.3)(x), y)  # reproducible from the engine's seed
    assert not nn.Dropout(1.0)(x).any()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(2, 7), st.sampled_from(["mean", "sum"]), st.sampled_from([0.0, 0.1]),
       st.integers(0, 2**16), st.sampled_from([1.0, 30.0]))
def test_cross_entropy_matches_torch(batch, classes, reduction, smoothing, seed, scale):
    rng = np.random.default_rng(seed)
    logits = rand(rng, batch, classes) * np.float32(scale)
    target = rng.integers(0, classes, batch)
    crit = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    loss = crit(logits, target)
    assert isinstance(loss, float)
    grad = crit.backward()
    lt = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(lt, torch.from_numpy(target), reduction=reduction,
                                                 label_smoothing=smoothing)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)
    assert grad.dtype == np.float32
    assert_close(grad, lt.grad)


def test_cross_entropy_is_numerically_stable():
    crit = nn.CrossEntropyLoss()
    logits = np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    loss = crit(logits, np.array([0, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(1e4, rel=1e-6)  # second sample: 2e4 / 2
    assert np.isfinite(crit.backward()).all()
    assert crit(np.zeros((4, 10), np.float32), np.arange(4)) == pytest.approx(np.log(10), rel=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_torch(reduction):
    rng = np.random.default_rng(5)
    prediction, target = rand(rng, 4, 3), rand(rng, 4, 3)
    crit = nn.MSELoss(reduction=reduction)
    loss = crit(prediction, target)
    pt = torch.tensor(prediction, requires_grad=True)
    expected = torch.nn.functional.mse_loss(pt, torch.from_numpy(target), reduction=reduction)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-6)
    assert_close(crit.backward(), pt.grad)
    assert_close(crit.backward(0.5), pt.grad * 0.5)


def test_identity():
    x = rand(np.random.default_rng(0), 2, 3)
    layer = nn.Identity()
    assert layer(x) is x and layer.backward(x) is x
