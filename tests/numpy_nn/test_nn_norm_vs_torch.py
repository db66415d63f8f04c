"""BatchNorm1d/2d, LayerNorm and GroupNorm equal torch's: forward and backward on generated configurations in
training and evaluation mode, the running statistics step for step, state_dict (buffers included) in both
directions, float64 gradient checks, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nnhelpers import assert_close, assert_same, rand, run_both, torch_twin

from cnnlab import numpy_nn as nn

#: dL/dx of a normalisation divides by the standard deviation of few values: float32 rounding of the two engines'
#: statistics differs by more than for a convolution.
TOL = dict(rtol=1e-3, atol=5e-5)


def _randomise_affine(layer: nn.Module, rng: np.random.Generator) -> None:
    """Weights away from 1 and biases away from 0, so that the affine gradients are exercised."""
    for param in layer.parameters():
        param.data[...] = rng.uniform(0.5, 1.5, param.shape)


@st.composite
def batchnorm_configs(draw):
    dims = draw(st.sampled_from([0, 1, 2]))  # (N, C), (N, C, L), (N, C, H, W)
    channels = draw(st.integers(1, 4))
    batch = draw(st.integers(2 if dims == 0 else 1, 4))
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    if batch * int(np.prod(spatial)) == 1:
        batch = 2
    return dict(shape=(batch, channels, *spatial), momentum=draw(st.sampled_from([0.1, 0.5, None])),
                eps=draw(st.sampled_from([1e-5, 1e-3])), affine=draw(st.booleans()),
                track=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


def _batchnorm_pair(config):
    classes = (nn.BatchNorm2d, torch.nn.BatchNorm2d) if len(config["shape"]) == 4 else (nn.BatchNorm1d,
                                                                                      torch.nn.BatchNorm1d)
    kwargs = dict(num_features=config["shape"][1], eps=config["eps"], momentum=config["momentum"],
                  affine=config["affine"], track_running_stats=config["track"])
    ours = classes[0](**kwargs)
    _randomise_affine(ours, np.random.default_rng(config["seed"]))
    return ours, torch_twin(ours, classes[1](**kwargs))


@settings(max_examples=40, deadline=None)
@given(batchnorm_configs())
def test_batchnorm_training_steps_and_evaluation_match_torch(config):
    ours, theirs = _batchnorm_pair(config)
    rng = np.random.default_rng(config["seed"])
    for step in range(3):  # three training steps: outputs, gradients and the running statistics
        x = rand(rng, *config["shape"]) * 2 + 0.5
        got, expected = run_both(ours, theirs, x, rng=rng)
        assert_same(got, expected, context=f"training step {step} {config}", **TOL)
        for param in theirs.parameters():
            param.grad = None
    theirs_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_state)
    for key, value in ours.state_dict().items():
        assert_close(value, theirs_state[key], what=key, **TOL)
    ours.eval()
    theirs.eval()
    x = rand(rng, *config["shape"])
    got, expected = run_both(ours, theirs, x, rng=rng)
    assert_same(got, expected, context=f"evaluation {config}", **TOL)


def test_batchnorm_state_dict_keys_dtypes_and_round_trips_both_ways():
    ours = nn.BatchNorm2d(3)
    state = ours.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert state["num_batches_tracked"].dtype == np.int64 and state["num_batches_tracked"].shape == ()
    theirs = torch.nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5) * 3 + 1
    theirs(x)
    theirs(x)  # running statistics and num_batches_tracked = 2 in torch
    ours.load_state_dict(theirs.state_dict())
    assert int(ours.num_batches_tracked) == 2
    assert_close(ours.running_var, theirs.running_var, what="running_var from torch")
    back = torch.nn.BatchNorm2d(3)
    back.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value)
    assert back.num_batches_tracked.dtype == torch.int64
    ours.double()
    assert ours.running_mean.dtype == np.float64 and ours.num_batches_tracked.dtype == np.int64


def test_batchnorm_without_running_stats_uses_batch_statistics_in_eval_mode():
    ours, theirs = nn.BatchNorm1d(3, track_running_stats=False), torch.nn.BatchNorm1d(3, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    x = rand(np.random.default_rng(1), 5, 3)
    got, expected = run_both(ours.eval(), theirs.eval(), x)
    assert_same(got, expected)


def test_batchnorm_eval_mode_is_a_fixed_affine_map():
    layer = nn.BatchNorm2d(2)
    layer.running_mean[...] = [1.0, -2.0]
    layer.running_var[...] = [4.0, 0.25]
    layer.eval()
    y = layer(np.array([[[[3.0]], [[-1.0]]]], dtype=np.float32))
    np.testing.assert_allclose(y.ravel(), [(3 - 1) / np.sqrt(4 + 1e-5), (-1 + 2) / np.sqrt(0.25 + 1e-5)], rtol=1e-6)
    assert int(layer.num_batches_tracked) == 0  # evaluation does not update the statistics


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(3, 5), st.booleans(), st.booleans(), st.integers(0, 999))
def test_layer_norm_matches_torch(batch, rows, cols, affine, bias, seed):
    # (at least 3 normalised values: with fewer, dL/dx is the cancellation of nearly equal float32 terms)
    rng = np.random.default_rng(seed)
    shape = (cols,) if seed % 2 else (rows, cols)
    ours = nn.LayerNorm(shape, elementwise_affine=affine, bias=bias)
    _randomise_affine(ours, rng)
    theirs = torch_twin(ours, torch.nn.LayerNorm(shape, elementwise_affine=affine, bias=bias))
    got, expected = run_both(ours, theirs, rand(rng, batch, 2, rows, cols), rng=rng)
    assert_same(got, expected, **TOL)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([(1, 4), (2, 4), (4, 4), (3, 6)]), st.integers(0, 2), st.booleans(), st.integers(0, 999))
def test_group_norm_matches_torch(groups_channels, spatial_dims, affine, seed):
    groups, channels = groups_channels
    assume(channels // groups * 3**spatial_dims >= 3)  # see test_layer_norm_matches_torch
    rng = np.random.default_rng(seed)
    ours = nn.GroupNorm(groups, channels, affine=affine)
    _randomise_affine(ours, rng)
    theirs = torch_twin(ours, torch.nn.GroupNorm(groups, channels, affine=affine))
    x = rand(rng, 2, channels, *(3,) * spatial_dims)
    got, expected = run_both(ours, theirs, x, rng=rng)
    assert_same(got, expected, **TOL)
    theirs.zero_grad()
    got, expected = run_both(ours.eval(), theirs.eval(), x, rng=rng)  # the same in evaluation mode
    assert_same(got, expected, **TOL)


@pytest.mark.parametrize("make, shape, mode", [
    (lambda: nn.BatchNorm2d(3), (4, 3, 3, 2), "train"),
    (lambda: nn.BatchNorm2d(3), (2, 3, 2, 2), "eval"),
    (lambda: nn.BatchNorm1d(2, affine=False), (5, 2), "train"),
    (lambda: nn.BatchNorm1d(2, momentum=None), (3, 2, 4), "train"),
    (lambda: nn.LayerNorm((2, 3)), (2, 4, 2, 3), "train"),
    (lambda: nn.LayerNorm(3, bias=False), (4, 3), "train"),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 2, 3), "train"),
    (lambda: nn.GroupNorm(1, 3, affine=False), (2, 3, 5), "train"),
], ids=lambda v: repr(v()) if callable(v) else str(v))
def test_normalisation_gradcheck_in_float64(make, shape, mode):
    layer = make()
    rng = np.random.default_rng(0)
    for param in layer.parameters():
        param.data[...] = rng.uniform(0.5, 1.5, param.shape)
    if mode == "eval":
        layer.running_mean[...] = rng.standard_normal(layer.num_features)
        layer.running_var[...] = rng.uniform(0.5, 2.0, layer.num_features)
        layer.eval()
    assert nn.gradcheck(layer, rng.standard_normal(shape))


@pytest.mark.parametrize("make, x, error, message", [
    (lambda: nn.BatchNorm2d(16), np.zeros((2, 8, 4, 4)), ValueError, r"expected input with 16 channels.*num_features"),
    (lambda: nn.BatchNorm2d(3), np.zeros((2, 32, 32, 3)), ValueError, "channels-last"),
    (lambda: nn.BatchNorm2d(3), np.zeros((2, 3)), ValueError, r"4-D input \(N, C, H, W\).*BatchNorm1d"),
    (lambda: nn.BatchNorm1d(3), np.zeros((2, 3, 4, 4)), ValueError, r"2-D or 3-D.*BatchNorm2d"),
    (lambda: nn.BatchNorm1d(3), np.zeros((1, 3)), ValueError, "more than 1 value per channel when training"),
    (lambda: nn.LayerNorm(4), np.zeros((2, 5)), ValueError, r"normalized_shape=\(4,\).*\(\*, 4\)"),
    (lambda: nn.GroupNorm(2, 4), np.zeros((2, 6, 3)), ValueError, "num_channels=4"),
    (lambda: nn.BatchNorm2d(3), np.zeros((2, 3, 4, 4), dtype=np.uint8), TypeError, "uint8"),
])
def test_normalisation_input_errors(make, x, error, message):
    with pytest.raises(error, match=message):
        make()(x)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.BatchNorm2d(0), "num_features must be a positive integer"),
    (lambda: nn.BatchNorm2d(3, momentum=-0.1), "momentum must be a non-negative number"),
    (lambda: nn.GroupNorm(3, 4), "num_channels must be divisible by num_groups"),
    (lambda: nn.LayerNorm(()), "normalized_shape must be"),
])
def test_normalisation_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_repr_and_reset_match_torch():
    assert repr(nn.BatchNorm2d(8)) == repr(torch.nn.BatchNorm2d(8))
    assert repr(nn.BatchNorm1d(4, momentum=None, affine=False)) == repr(
        torch.nn.BatchNorm1d(4, momentum=None, affine=False))
    assert repr(nn.GroupNorm(2, 4)) == repr(torch.nn.GroupNorm(2, 4))
    assert repr(nn.LayerNorm(4, bias=False)) == repr(torch.nn.LayerNorm(4, bias=False))
    assert list(nn.BatchNorm2d(3, bias=False).state_dict()) == list(torch.nn.BatchNorm2d(3, bias=False).state_dict())
    layer = nn.BatchNorm2d(2)
    layer(rand(np.random.default_rng(0), 3, 2, 2, 2) + 5)
    layer.weight.data[...] = 3
    layer.reset_parameters()
    assert (layer.running_mean == 0).all() and (layer.weight.data == 1).all() and int(layer.num_batches_tracked) == 0


@pytest.mark.parametrize("ours, theirs, shape", [
    (nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3), (4, 3)),
    (nn.BatchNorm2d(3, momentum=None), torch.nn.BatchNorm2d(3, momentum=None), (4, 3, 2, 2)),
    (nn.LayerNorm((2, 3)), torch.nn.LayerNorm((2, 3)), (4, 2, 3)),
    (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4), (2, 4, 3)),
    (nn.Conv1d(2, 4, 3, groups=2), torch.nn.Conv1d(2, 4, 3, groups=2), (2, 2, 7)),
], ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_state_dict_round_trips_both_ways(ours, theirs, shape):
    """torch's trained state (random weights, running statistics after a few batches) into ours and back again."""
    torch.manual_seed(0)
    with torch.no_grad():
        for param in theirs.parameters():
            param.uniform_(0.5, 1.5)
        for _ in range(3):
            theirs(torch.randn(*shape) * 2 + 1)
    ours.load_state_dict(theirs.state_dict())
    back = type(theirs)(*_constructor_args(theirs))
    back.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    x = rand(np.random.default_rng(0), *shape)
    for module in (ours, theirs, back):
        module.eval()
    with torch.no_grad():
        assert_close(ours(x), theirs(torch.from_numpy(x)), **TOL)
        assert_close(back(torch.from_numpy(x)), theirs(torch.from_numpy(x)))
    assert list(back.state_dict()) == list(theirs.state_dict())


def _constructor_args(module: torch.nn.Module) -> tuple:
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return (module.num_features, module.eps, module.momentum)
    if isinstance(module, torch.nn.LayerNorm):
        return (module.normalized_shape,)
    if isinstance(module, torch.nn.GroupNorm):
        return (module.num_groups, module.num_channels)
    return (module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
            module.dilation, module.groups)
