"""Conv2d forward and backward (dx, dW, db) equal torch's and the naive reference's on generated configurations,
for every algorithm; the kernels' own pieces (padding, im2col/col2im, chunking) on their own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nnhelpers import assert_close, assert_same, rand, run_both, torch_twin

from cnnlab import numpy_nn as nn
from cnnlab.numpy_nn import kernels
from cnnlab.numpy_nn.kernels import conv_fast

MODES = ("zeros", "reflect", "replicate", "circular")


@st.composite
def conv_configs(draw, max_batch=3, max_channels=3, max_kernel=4, max_extra=5):
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, max_channels))
    out_channels = groups * draw(st.integers(1, max_channels))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(MODES))
    choices = ["int", "pair", "valid"] + (["same"] if stride == (1, 1) else [])
    kind = draw(st.sampled_from(choices))
    if kind == "int":
        padding = draw(st.integers(0, 2))
    elif kind == "pair":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    else:
        padding = kind
    if padding == "same":
        sides = [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(kernel, dilation, strict=True)]
    else:
        p = (0, 0) if padding == "valid" else (padding, padding) if isinstance(padding, int) else padding
        sides = [(v, v) for v in p]
    sizes = []
    for k, d, (before, after) in zip(kernel, dilation, sides, strict=True):
        low = max(1, d * (k - 1) + 1 - before - after)
        if mode == "reflect":
            low = max(low, before + 1, after + 1)
        elif mode == "circular":
            low = max(low, before, after)
        sizes.append(draw(st.integers(low, low + max_extra)))
    return dict(batch=draw(st.integers(1, max_batch)), in_channels=in_channels, out_channels=out_channels,
                kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), padding_mode=mode, size=tuple(sizes), seed=draw(st.integers(0, 2**16)))


def _layers(config, algorithm):
    args = {k: config[k] for k in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                                   "groups", "bias", "padding_mode")}
    ours = nn.Conv2d(**args, algorithm=algorithm)
    return ours, torch_twin(ours, torch.nn.Conv2d(**args))


def _input(config):
    rng = np.random.default_rng(config["seed"])
    return rng, rand(rng, config["batch"], config["in_channels"], *config["size"])


@settings(max_examples=60, deadline=None)
@given(conv_configs())
def test_fast_im2col_and_loops2_match_torch(config):
    _, x = _input(config)
    for algorithm in ("fast", "im2col", "loops2"):
        ours, theirs = run_both(*_layers(config, algorithm), x, rng=np.random.default_rng(config["seed"]))
        assert_same(ours, theirs, context=f"{algorithm} {config}")


@settings(max_examples=25, deadline=None)
@given(conv_configs(max_batch=2, max_channels=2, max_kernel=3, max_extra=3))
def test_naive_matches_torch(config):
    rng, x = _input(config)
    ours, theirs = run_both(*_layers(config, "naive"), x, rng=rng)
    assert_same(ours, theirs, context=f"naive {config}")


@settings(max_examples=25, deadline=None)
@given(conv_configs(max_batch=2, max_channels=2, max_kernel=3, max_extra=3))
def test_every_algorithm_agrees_with_naive(config):
    rng, x = _input(config)
    layer, _ = _layers(config, "naive")
    grad = None
    results = {}
    for algorithm in nn.CONV_ALGORITHMS:
        layer.algorithm = algorithm
        layer.zero_grad()
        y = layer(x)
        grad = rand(rng, *y.shape) if grad is None else grad
        results[algorithm] = (y, layer.backward(grad), layer.weight.grad.copy(),
                              None if layer.bias is None else layer.bias.grad.copy())
    for algorithm in ("loops2", "im2col", "fast"):
        for got, want, what in zip(results[algorithm], results["naive"], ("y", "dx", "dW", "db"), strict=True):
            if want is not None:
                assert_close(got, want, what=f"{algorithm} vs naive {what}")


@pytest.mark.parametrize("algorithm", ["im2col", "fast"])
@pytest.mark.parametrize(("size", "kernel", "stride", "dilation"), [((10, 11), 3, 4, 1), ((10, 8), (2, 3), (3, 2), 2),
                                                                     ((8, 8), 3, (1, 3), (2, 1))])
def test_strides_that_do_not_divide_the_input(algorithm, size, kernel, stride, dilation):
    """The last rows/columns that no window reaches get zero gradient, as in torch."""
    rng = np.random.default_rng(5)
    config = dict(in_channels=2, out_channels=4, kernel_size=kernel, stride=stride, padding=0, dilation=dilation,
                  groups=2, bias=True, padding_mode="zeros")
    layer, twin = _layers(config, algorithm)
    ours, theirs = run_both(layer, twin, rand(rng, 3, 2, *size), rng=rng)
    assert_same(ours, theirs, context=f"{algorithm} size={size} stride={stride}")
    (ho, wo), (kh, kw) = ours["y"].shape[2:], layer.kernel_size
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    first_unread_row, first_unread_col = (ho - 1) * sh + dh * (kh - 1) + 1, (wo - 1) * sw + dw * (kw - 1) + 1
    assert first_unread_row < size[0] or first_unread_col < size[1]  # the case leaves pixels unread
    assert not ours["dx"][..., first_unread_row:, :].any() and not ours["dx"][..., first_unread_col:].any()


@pytest.mark.parametrize("algorithm", nn.CONV_ALGORITHMS)
def test_backward_without_input_gradient(algorithm):
    """need_input_grad=False: no dL/dx, the same parameter gradients."""
    rng = np.random.default_rng(6)
    layer = nn.Conv2d(4, 6, 3, stride=(1, 2), padding=1, groups=2, algorithm=algorithm)
    x = rand(rng, 2, 4, 7, 6)
    grad = rand(rng, *layer(x).shape)
    layer.backward(grad)
    full = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer.zero_grad()
    layer(x)
    assert layer.backward(grad, need_input_grad=False) is None
    np.testing.assert_array_equal(layer.weight.grad, full[0])
    np.testing.assert_array_equal(layer.bias.grad, full[1])


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, padding=1), dict(kernel_size=3, stride=2),
                                    dict(kernel_size=(2, 3), dilation=2, groups=2)], ids=str)
def test_fast_chunks_give_the_same_numbers(monkeypatch, kwargs):
    """One image per chunk (CHUNK_BYTES tiny) computes exactly what one chunk for the whole batch does."""
    rng = np.random.default_rng(7)
    layer = nn.Conv2d(2, 4, **kwargs, algorithm="fast")
    x = rand(rng, 5, 2, 9, 8)
    grad = rand(rng, *layer(x).shape)

    def run():
        layer.zero_grad()
        return layer(x), layer.backward(grad), layer.weight.grad.copy()

    monkeypatch.setattr(conv_fast, "CHUNK_BYTES", 1 << 30)
    whole = run()
    monkeypatch.setattr(conv_fast, "CHUNK_BYTES", 1)
    assert len(conv_fast._chunks(5, 100)) == 5
    for got, want in zip(run(), whole, strict=True):
        assert_close(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_padding_modes_pad_like_torch(mode):
    rng = np.random.default_rng(1)
    x = rand(rng, 2, 3, 5, 6)
    sides = ((2, 1), (3, 0))
    torch_mode = {"zeros": "constant"}.get(mode, mode)
    expected = torch.nn.functional.pad(torch.from_numpy(x), (3, 0, 2, 1), mode=torch_mode)
    assert_close(kernels.pad2d(x, sides, mode), expected)
    # the backward of padding is the adjoint: <pad(x), g> == <x, pad_backward(g)>
    g = rand(rng, *expected.shape)
    lhs = float(np.sum(kernels.pad2d(x, sides, mode).astype(np.float64) * g))
    rhs = float(np.sum(x.astype(np.float64) * kernels.pad2d_backward(g, sides, mode)))
    assert lhs == pytest.approx(rhs, rel=1e-5)


def test_lenet_layer_shapes_match_torch():
    rng = np.random.default_rng(0)
    for args, size in (((3, 8, 5), 32), ((8, 16, 5), 14)):
        ours, theirs = run_both(*_layers(dict(zip(("in_channels", "out_channels", "kernel_size"), args, strict=True),
                                                  stride=1, padding=0, dilation=1, groups=1, bias=True,
                                                  padding_mode="zeros"), "fast"),
                                rand(rng, 16, args[0], size, size), rng=rng)
        assert_same(ours, theirs)


def test_float64_parameters_compute_in_float64():
    layer = nn.Conv2d(2, 3, 3).double()
    torch_layer = torch_twin(layer, torch.nn.Conv2d(2, 3, 3).double())
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 5))
    ours, theirs = run_both(layer, torch_layer, x)
    assert ours["y"].dtype == np.float64
    assert_same(ours, theirs, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")
    x = np.ones((1, 2, 5, 5), dtype=np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32
    # float64 input to a float32 layer is computed in float32 (the layer's dtype)
    assert layer(x.astype(np.float64)).dtype == np.float32


def test_textbook_im2col_and_col2im():
    """W @ im2col(x) is the convolution, and col2im is the adjoint of im2col (<im2col(x), c> == <x, col2im(c)>)."""
    rng = np.random.default_rng(2)
    x = rand(rng, 2, 3, 7, 8)
    weight = rand(rng, 4, 3, 3, 2)
    geometry = dict(kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2))
    cols = kernels.im2col(x, **geometry)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), stride=(2, 1),
                                          dilation=(1, 2))
    assert_close(np.matmul(weight.reshape(4, -1), cols).reshape(expected.shape), expected)
    c = rand(rng, *cols.shape)
    lhs = float(np.sum(cols.astype(np.float64) * c))
    rhs = float(np.sum(x.astype(np.float64) * kernels.col2im(c, x.shape, **geometry)))
    assert lhs == pytest.approx(rhs, rel=1e-5)


@pytest.mark.parametrize("algorithm", nn.CONV_ALGORITHMS)
def test_functional_conv2d_with_padding_mode(algorithm):
    rng = np.random.default_rng(3)
    x, weight, bias = rand(rng, 1, 2, 6, 5), rand(rng, 3, 2, 3, 3), rand(rng, 3)
    got = kernels.conv2d(x, weight, bias, stride=2, padding=((1, 1), (2, 2)), padding_mode="circular",
                         algorithm=algorithm)
    layer = torch.nn.Conv2d(2, 3, 3, stride=2, padding=(1, 2), padding_mode="circular")
    layer.load_state_dict({"weight": torch.from_numpy(weight), "bias": torch.from_numpy(bias)})
    assert_close(got, layer(torch.from_numpy(x)))
    with pytest.raises(ValueError, match=r"conv2d: algorithm must be one of \['naive', 'loops2', 'im2col', 'fast'\]"):
        kernels.conv2d(x, weight, algorithm="fft")


@pytest.mark.parametrize("algorithm", ["im2col", "fast"])
@pytest.mark.parametrize("stride", [1, 2])
def test_non_contiguous_input_gives_the_same_result(stride, algorithm):
    rng = np.random.default_rng(4)
    nhwc = rand(rng, 3, 9, 8, 2)
    x = nhwc.transpose(0, 3, 1, 2)  # an NCHW view of channels-last data: not contiguous
    layer = nn.Conv2d(2, 3, 3, stride=stride, padding=1, algorithm=algorithm)
    grad = rand(rng, *layer(x).shape)
    dx_view = layer.backward(grad)
    y_view, dw_view = layer(x), layer.weight.grad.copy()
    layer.zero_grad()
    y = layer(np.ascontiguousarray(x))
    dx = layer.backward(grad)
    assert_close(y_view, y)
    assert_close(dx_view, dx)
    assert_close(dw_view, layer.weight.grad)
