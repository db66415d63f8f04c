"""The activations (LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax), Residual, and the losses with class
weights, ignore_index, label smoothing and every reduction equal torch's, forward and backward; float64 gradient
checks for each."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nnhelpers import assert_close, assert_same, rand, run_both

from cnnlab import numpy_nn as nn

ACTIVATIONS = [
    (lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (nn.Sigmoid, torch.nn.Sigmoid),
    (nn.Tanh, torch.nn.Tanh),
    (nn.GELU, torch.nn.GELU),
    (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    (lambda: nn.Softmax(1), lambda: torch.nn.Softmax(1)),
    (lambda: nn.Softmax(-1), lambda: torch.nn.Softmax(-1)),
    (lambda: nn.LogSoftmax(1), lambda: torch.nn.LogSoftmax(1)),
    (lambda: nn.LogSoftmax(0), lambda: torch.nn.LogSoftmax(0)),
]


@pytest.mark.parametrize("ours, theirs", ACTIVATIONS, ids=lambda make: repr(make()))
def test_activations_match_torch(ours, theirs):
    rng = np.random.default_rng(0)
    x = rand(rng, 3, 4, 5) * 4  # large values too: Sigmoid and Softmax must not overflow
    x[0, 0, 0] = 60.0
    got, expected = run_both(ours(), theirs(), x, rng=rng)
    assert_same(got, expected)
    assert repr(ours()) == repr(theirs())


@pytest.mark.parametrize("layer", [make() for make, _ in ACTIVATIONS], ids=repr)
def test_activations_gradcheck_in_float64(layer):
    x = np.random.default_rng(1).standard_normal((3, 4))
    x += 0.05 * np.sign(x)  # LeakyReLU's kink at 0
    assert nn.gradcheck(layer, x)


def test_softmax_without_dim_follows_torchs_deprecated_rule():
    x = rand(np.random.default_rng(2), 2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        y = nn.Softmax()(x)
    with pytest.warns(UserWarning):
        expected = torch.nn.Softmax()(torch.from_numpy(x))
    assert_close(y, expected)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        nn.Softmax(2)(x)


def test_sigmoid_of_extreme_values_is_exact_and_finite():
    y = nn.Sigmoid()(np.array([-1000.0, 0.0, 1000.0], dtype=np.float32))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("erf")


# --- Residual ------------------------------------------------------------------------------------------------------

def _basic_block(engine, channels_in, channels_out, stride):
    """A ResNet basic block from either engine's classes (torch.nn lacks a residual module: cnnlab.torch_nn has)."""
    from cnnlab import torch_nn

    lib, residual = (nn, nn.Residual) if engine == "numpy" else (torch.nn, torch_nn.Residual)
    block = lib.Sequential(lib.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
                           lib.BatchNorm2d(channels_out), lib.ReLU(),
                           lib.Conv2d(channels_out, channels_out, 3, padding=1, bias=False),
                           lib.BatchNorm2d(channels_out))
    shortcut = None
    if stride != 1 or channels_in != channels_out:
        shortcut = lib.Sequential(lib.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                                  lib.BatchNorm2d(channels_out))
    return lib.Sequential(residual(block, shortcut), lib.ReLU())


@pytest.mark.parametrize("channels_in, channels_out, stride", [(3, 3, 1), (2, 4, 2)])
def test_residual_basic_block_matches_torch(channels_in, channels_out, stride):
    ours = _basic_block("numpy", channels_in, channels_out, stride)
    theirs = _basic_block("torch", channels_in, channels_out, stride)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    x = rand(np.random.default_rng(3), 4, channels_in, 6, 6)
    got, expected = run_both(ours, theirs, x)
    assert_same(got, expected, rtol=1e-3, atol=5e-5)


def test_residual_gradcheck_and_its_gradient_highway():
    block = nn.Residual(nn.Sequential(nn.Linear(3, 3), nn.Tanh()), nn.Linear(3, 3, bias=False))
    assert nn.gradcheck(block, np.random.default_rng(4).standard_normal((2, 3)))
    identity = nn.Residual(nn.Sequential(nn.Linear(3, 3)))
    identity.block[0].weight.data[...] = 0  # a block that passes nothing back
    identity(rand(np.random.default_rng(5), 2, 3))
    grad = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(identity.backward(grad), grad)  # the skip still carries the whole gradient


def test_residual_shape_mismatch_says_to_add_a_shortcut():
    block = nn.Residual(nn.Conv2d(2, 4, 3, padding=1))
    with pytest.raises(ValueError, match=r"cannot be summed.*give a shortcut"):
        block(np.zeros((1, 2, 5, 5), np.float32))
    from cnnlab import torch_nn

    with pytest.raises(RuntimeError, match="cannot be summed"):
        torch_nn.Residual(torch.nn.Conv2d(2, 4, 3, padding=1))(torch.zeros(1, 2, 5, 5))


# --- losses --------------------------------------------------------------------------------------------------------

@st.composite
def loss_configs(draw):
    n, classes = draw(st.integers(1, 6)), draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    target = rng.integers(0, classes, n)
    ignore_index = draw(st.sampled_from([-100, 1]))
    if draw(st.booleans()):
        target[rng.random(n) < 0.3] = ignore_index
    weight = rng.uniform(0.2, 2.0, classes).astype(np.float32) if draw(st.booleans()) else None
    return dict(logits=rand(rng, n, classes) * 3, target=target, weight=weight, ignore_index=ignore_index,
                reduction=draw(st.sampled_from(["mean", "sum", "none"])),
                label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])), seed=int(rng.integers(2**16)))


def _torch_loss(config, cls=torch.nn.CrossEntropyLoss, **extra):
    weight = None if config["weight"] is None else torch.from_numpy(config["weight"])
    return cls(weight=weight, ignore_index=config["ignore_index"], reduction=config["reduction"], **extra)


def _compare_losses(ours, theirs, scores, target, config):
    loss = ours(scores, target)
    grad_out = (rand(np.random.default_rng(config["seed"]), len(target)) if config["reduction"] == "none"
                else np.float32(1.3))
    grad = ours.backward(grad_out)
    scores_t = torch.tensor(scores, requires_grad=True)
    loss_t = theirs(scores_t, torch.from_numpy(target))
    loss_t.backward(torch.as_tensor(grad_out))
    if config["reduction"] != "none" and math.isnan(loss_t.item()):  # every target ignored: 0 / 0, as torch
        assert math.isnan(loss)
        return
    assert_close(np.asarray(loss, dtype=np.float32), loss_t.detach(), what=f"loss {config}")
    assert_close(grad, scores_t.grad, what=f"gradient {config}")


@settings(max_examples=80, deadline=None)
@given(loss_configs())
def test_cross_entropy_matches_torch(config):
    ours = nn.CrossEntropyLoss(config["weight"], ignore_index=config["ignore_index"], reduction=config["reduction"],
                               label_smoothing=config["label_smoothing"])
    theirs = _torch_loss(config, label_smoothing=config["label_smoothing"])
    _compare_losses(ours, theirs, config["logits"], config["target"], config)


@settings(max_examples=50, deadline=None)
@given(loss_configs())
def test_nll_loss_of_log_softmax_matches_torch(config):
    ours = nn.NLLLoss(config["weight"], ignore_index=config["ignore_index"], reduction=config["reduction"])
    log_probs = nn.LogSoftmax(1)(config["logits"])
    _compare_losses(ours, _torch_loss(config, torch.nn.NLLLoss), log_probs, config["target"], config)


@pytest.mark.parametrize("loss", [
    nn.CrossEntropyLoss(np.array([1.0, 2.0, 0.5]), label_smoothing=0.2),
    nn.CrossEntropyLoss(ignore_index=2, reduction="sum"),
    nn.NLLLoss(np.array([0.3, 1.0, 2.0])),
], ids=repr)
def test_loss_gradcheck_in_float64(loss):
    rng = np.random.default_rng(6)
    assert nn.gradcheck(loss, [rng.standard_normal((5, 3)), np.array([0, 2, 1, 2, 0])])


def test_loss_state_dict_holds_the_class_weights_as_torch():
    weight = np.array([1.0, 3.0], np.float32)
    assert list(nn.CrossEntropyLoss(weight).state_dict()) == list(
        torch.nn.CrossEntropyLoss(torch.from_numpy(weight)).state_dict()) == ["weight"]
    assert nn.CrossEntropyLoss().state_dict() == {}


@pytest.mark.parametrize("make, args, message", [
    (lambda: nn.CrossEntropyLoss(np.ones(3)), (np.zeros((2, 4), np.float32), np.array([0, 1])),
     "weight has 3 entries but there are 4 classes"),
    (lambda: nn.CrossEntropyLoss(ignore_index=5), (np.zeros((2, 4), np.float32), np.array([0, 7])),
     r"target class 7 is out of range for 4 classes \(0..3, or ignore_index=5\)"),
    (lambda: nn.NLLLoss(), (np.zeros((2, 4), np.float32), np.array([0.0, 1.0])), "integer class indices"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), None, "reduction must be one of"),
    (lambda: nn.CrossEntropyLoss(np.ones((2, 2))), None, "weight must be a 1-D array"),
])
def test_loss_errors(make, args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()(*args)


def test_mse_none_reduction_matches_torch():
    rng = np.random.default_rng(7)
    prediction, target = rand(rng, 3, 4), rand(rng, 3, 4)
    loss = nn.MSELoss(reduction="none")
    out = loss(prediction, target)
    grad_out = rand(rng, 3, 4)
    p_t = torch.tensor(prediction, requires_grad=True)
    out_t = torch.nn.MSELoss(reduction="none")(p_t, torch.from_numpy(target))
    out_t.backward(torch.from_numpy(grad_out))
    assert_close(out, out_t.detach())
    assert_close(loss.backward(grad_out), p_t.grad)
