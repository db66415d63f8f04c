"""Conv1d shares Conv2d's geometry and algorithms (the height-1 case): every algorithm equals torch.nn.Conv1d and the
naive reference on generated configurations, forward and backward, passes float64 gradient checks, and bad input
gets the same clear errors as Conv2d."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nnhelpers import assert_close, assert_same, rand, run_both, torch_twin

from cnnlab import numpy_nn as nn
from cnnlab.geometry import Conv1dSpec

MODES = ("zeros", "reflect", "replicate", "circular")


@st.composite
def conv1d_configs(draw):
    groups = draw(st.integers(1, 3))
    kernel, stride, dilation = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(MODES))
    padding = draw(st.sampled_from(["valid", *(["same"] if stride == 1 else []), 0, 1, 2, (2,)]))
    total = dilation * (kernel - 1)
    before, after = ((total // 2, total - total // 2) if padding == "same" else
                     (0, 0) if padding == "valid" else (int(np.ravel(padding)[0]),) * 2)
    low = max(1, total + 1 - before - after)
    if mode == "reflect":
        low = max(low, before + 1, after + 1)
    elif mode == "circular":
        low = max(low, before, after)
    return dict(in_channels=groups * draw(st.integers(1, 3)), out_channels=groups * draw(st.integers(1, 3)),
                kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), padding_mode=mode, length=draw(st.integers(low, low + 6)),
                batch=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**16)))


def _layer_args(config):
    return {k: config[k] for k in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                                   "groups", "bias", "padding_mode")}


@settings(max_examples=40, deadline=None)
@given(conv1d_configs())
def test_every_algorithm_matches_torch_and_the_naive_reference(config):
    rng = np.random.default_rng(config["seed"])
    x = rand(rng, config["batch"], config["in_channels"], config["length"])
    reference = nn.Conv1d(**_layer_args(config), algorithm="naive")
    theirs = torch_twin(reference, torch.nn.Conv1d(**_layer_args(config)))
    grad = rand(rng, *theirs(torch.from_numpy(x)).shape)
    naive, expected = run_both(reference, theirs, x, grad)
    assert_same(naive, expected, context=f"naive {config}")
    for algorithm in ("loops2", "im2col", "fast"):
        layer = nn.Conv1d(**_layer_args(config), algorithm=algorithm)
        layer.load_state_dict(reference.state_dict())
        y = layer(x)
        ours = {"y": y, "dx": layer.backward(grad), **{k: p.grad for k, p in layer.named_parameters()}}
        for key, value in naive.items():  # the fast algorithms against the reference written from the equation
            assert_close(ours[key], value, what=f"{algorithm} vs naive: {key} {config}")


@pytest.mark.parametrize("algorithm", nn.CONV_ALGORITHMS)
@pytest.mark.parametrize("args", [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, padding=1, bias=False),
    dict(in_channels=4, out_channels=2, kernel_size=3, dilation=2, groups=2, padding="same"),
    dict(in_channels=1, out_channels=2, kernel_size=3, padding=2, padding_mode="reflect"),
    dict(in_channels=1, out_channels=1, kernel_size=2, padding=1, padding_mode="circular", stride=2),
], ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_conv1d_gradcheck_in_float64(args, algorithm):
    layer = nn.Conv1d(**args, algorithm=algorithm)
    assert nn.gradcheck(layer, np.random.default_rng(0).standard_normal((2, args["in_channels"], 7)))
    assert layer.weight.data.dtype == np.float32


def test_conv1d_parameters_repr_and_state_dict_are_torchs():
    ours, theirs = nn.Conv1d(4, 6, 3, stride=2, groups=2), torch.nn.Conv1d(4, 6, 3, stride=2, groups=2)
    assert ours.weight.shape == tuple(theirs.weight.shape) == (6, 2, 3)
    assert repr(ours) == repr(theirs)
    assert (ours.kernel_size, ours.stride, ours.padding, ours.dilation) == ((3,), (2,), (0,), (1,))
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    ours.load_state_dict(theirs.state_dict())
    nn.init.manual_seed(5)
    bound = 1 / np.sqrt(2 * 3)  # torch's default init: U(+-1/sqrt(fan_in)), fan_in = C_in/groups * k
    weight = nn.Conv1d(4, 6, 3, groups=2).weight.data
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound
    assert isinstance(ours.spec, Conv1dSpec) and ours.output_shape((5, 4, 11)) == (5, 6, 5)
    ours.stride = 1  # assigning a torch attribute re-validates the geometry, as for Conv2d
    assert ours.output_shape((5, 4, 11)) == (5, 6, 9)


@pytest.mark.parametrize("x, message", [
    (np.zeros((8, 20), np.float32), r"expected a 3-D input \(N, C, L\), got shape \(8, 20\) \(2-D\)\. For a single"),
    (np.zeros((2, 3, 8, 8), np.float32), r"expected a 3-D input \(N, C, L\).*Images\?.*2-D counterpart"),
    (np.zeros((2, 20, 3), np.float32), r"expected input with 3 channels \(N, 3, L\).*channels-last \(N, L, C\)"),
    (np.zeros((2, 3, 2), np.float32), r"kernel \(5,\) \(dilation \(1,\)\) is larger than the padded input: input 2 "
                                      r"padded to 2, but the kernel covers 5"),
])
def test_conv1d_input_errors_name_the_layer_and_the_cause(x, message):
    with pytest.raises(ValueError, match=r"Conv1d\(3, 4, kernel_size=\(5,\), stride=\(1,\)\): " + message):
        nn.Conv1d(3, 4, 5)(x)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=(3, 3)), r"Conv1d: kernel_size must be an int or a sequence of one int, got \(3, 3\)"),
    (dict(kernel_size=3, stride=2, padding="same"), "not supported for strided"),
    (dict(kernel_size=3, groups=2), "in_channels must be divisible by groups"),
])
def test_conv1d_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv1d(3, 4, **kwargs)
