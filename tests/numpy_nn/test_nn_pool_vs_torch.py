"""Pooling equals torch: overlapping windows, odd sizes, strides that do not divide, padding, ties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nnhelpers import assert_same, rand, run_both

from cnnlab import numpy_nn as nn
from cnnlab.geometry import conv_output_size
from cnnlab.numpy_nn import kernels


@st.composite
def pool_configs(draw, dilation=True):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), d * (k - 1) + 7))
                 for k, d, p in zip(kernel, dil, padding, strict=True))
    return dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dil, size=size,
                batch=draw(st.integers(1, 3)), channels=draw(st.integers(1, 3)), ties=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


def _input(config):
    rng = np.random.default_rng(config["seed"])
    shape = (config["batch"], config["channels"], *config["size"])
    if config["ties"]:  # few distinct values: many ties inside windows (e.g. zeros after a ReLU)
        return rng, rng.integers(-1, 2, size=shape).astype(np.float32)
    return rng, rand(rng, *shape)


@settings(max_examples=60, deadline=None)
@given(pool_configs())
def test_max_pool_matches_torch(config):
    rng, x = _input(config)
    args = {k: config[k] for k in ("kernel_size", "stride", "padding", "dilation")}
    # A dilated window can fall entirely into the padding: we give -inf and no gradient, torch sends that
    # gradient to an unrelated pixel (an index past the window). Compare the well-defined cases.
    assume(np.isfinite(nn.MaxPool2d(**args)(x)).all())
    ours, theirs = run_both(nn.MaxPool2d(**args), torch.nn.MaxPool2d(**args), x, rng=rng)
    assert_same(ours, theirs, context=str(config))


@settings(max_examples=60, deadline=None)
@given(pool_configs(dilation=False), st.booleans())
def test_avg_pool_matches_torch(config, count_include_pad):
    rng, x = _input(config)
    args = {k: config[k] for k in ("kernel_size", "stride", "padding")}
    ours, theirs = run_both(nn.AvgPool2d(**args, count_include_pad=count_include_pad),
                            torch.nn.AvgPool2d(**args, count_include_pad=count_include_pad), x, rng=rng)
    assert_same(ours, theirs, context=str(config))


@pytest.mark.parametrize(("kernel", "stride", "size"), [(2, 2, (8, 8)), (2, 2, (7, 9)), (3, 3, (10, 11)),
                                                        ((2, 3), (2, 3), (6, 7)), (3, 2, (7, 7)), (3, 1, (5, 6))])
def test_max_pool_fast_and_general_paths_match_torch(kernel, stride, size):
    rng = np.random.default_rng(3)
    x = np.maximum(rand(rng, 4, 3, *size), 0)  # ReLU output: ties at zero
    ours, theirs = run_both(nn.MaxPool2d(kernel, stride), torch.nn.MaxPool2d(kernel, stride), x, rng=rng)
    assert_same(ours, theirs)


def test_avg_pool_divisor_override_matches_torch():
    rng = np.random.default_rng(4)
    x = rand(rng, 2, 2, 7, 6)
    ours, theirs = run_both(nn.AvgPool2d(3, 2, 1, divisor_override=5), torch.nn.AvgPool2d(3, 2, 1, divisor_override=5),
                            x, rng=rng)
    assert_same(ours, theirs)


def test_max_pool_propagates_nan_like_torch():
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]], dtype=np.float32)
    y = nn.MaxPool2d(2)(x)
    assert np.isnan(y).all() and np.isnan(torch.nn.MaxPool2d(2)(torch.from_numpy(x)).numpy()).all()
    general = nn.MaxPool2d(2, stride=1)
    assert np.isnan(general(x)).all()


def test_window_entirely_in_padding_gives_minus_inf_and_no_gradient():
    pool = nn.MaxPool2d((1, 2), padding=(0, 1), dilation=(1, 2))  # taps at -1 and +1 of a 1-pixel-wide image
    x = np.ones((1, 2, 1, 1), dtype=np.float32)
    y = pool(x)
    assert np.isneginf(y).all()
    assert not pool.backward(np.ones_like(y)).any()


@settings(max_examples=60, deadline=None)
@given(pool_configs(), st.booleans())
def test_max_pool_ceil_mode_and_indices_match_torch(config, ceil_mode):
    rng, x = _input(config)
    args = {k: config[k] for k in ("kernel_size", "stride", "padding", "dilation")}
    assume(np.isfinite(nn.MaxPool2d(**args, ceil_mode=ceil_mode)(x)).all())  # see test_max_pool_matches_torch
    ours, theirs = run_both(nn.MaxPool2d(**args, ceil_mode=ceil_mode), torch.nn.MaxPool2d(**args, ceil_mode=ceil_mode),
                            x, rng=rng)
    assert_same(ours, theirs, context=str(config))
    if not config["ties"]:  # with ties torch may pick another of the equal maxima
        _, indices = nn.MaxPool2d(**args, ceil_mode=ceil_mode, return_indices=True)(x)
        _, indices_t = torch.nn.MaxPool2d(**args, ceil_mode=ceil_mode, return_indices=True)(torch.from_numpy(x))
        np.testing.assert_array_equal(indices, indices_t.numpy())


@settings(max_examples=60, deadline=None)
@given(pool_configs(dilation=False), st.booleans(), st.booleans())
def test_avg_pool_ceil_mode_matches_torch(config, count_include_pad, ceil_mode):
    rng, x = _input(config)
    args = {k: config[k] for k in ("kernel_size", "stride", "padding")}
    args.update(count_include_pad=count_include_pad, ceil_mode=ceil_mode)
    ours, theirs = run_both(nn.AvgPool2d(**args), torch.nn.AvgPool2d(**args), x, rng=rng)
    assert_same(ours, theirs, context=str(config))


def test_ceil_mode_keeps_the_partial_window_and_drops_one_that_starts_in_the_padding():
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    assert nn.MaxPool2d(2, ceil_mode=True)(x).shape == (1, 1, 3, 3)  # floor mode: 2 x 2
    np.testing.assert_array_equal(nn.MaxPool2d(2, ceil_mode=True)(x)[0, 0, 2], [21, 23, 24])
    # padding 1: ceil((5 + 2 - 2) / 2) + 1 = 4 windows, but the 4th would start at 6 >= 5 + 1, in the right padding
    assert nn.MaxPool2d(2, padding=1, ceil_mode=True)(x).shape == (1, 1, 3, 3)
    assert torch.nn.MaxPool2d(2, padding=1, ceil_mode=True)(torch.from_numpy(x)).shape == (1, 1, 3, 3)
    assert conv_output_size(5, 2, 2, 1, ceil_mode=True) == 3 and conv_output_size(5, 2, 2, 0, ceil_mode=True) == 3
    assert conv_output_size(6, 3, 2, 0, ceil_mode=True) == 3 and conv_output_size(6, 3, 2, 0) == 2
    np.testing.assert_allclose(nn.AvgPool2d(2, ceil_mode=True)(x)[0, 0, 2, 2], 24.0)  # a 1-pixel window: its mean


@st.composite
def adaptive_configs(draw):
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    out = draw(st.one_of(st.integers(1, 6), st.tuples(st.one_of(st.none(), st.integers(1, 6)),
                                                      st.one_of(st.none(), st.integers(1, 6)))))
    return dict(size=size, output_size=out, batch=draw(st.integers(1, 2)), channels=draw(st.integers(1, 3)),
                ties=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@settings(max_examples=60, deadline=None)
@given(adaptive_configs())
def test_adaptive_pools_match_torch(config):
    rng, x = _input(config)
    out = config["output_size"]
    ours, theirs = run_both(nn.AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out), x, rng=rng)
    assert_same(ours, theirs, context=str(config))
    ours, theirs = run_both(nn.AdaptiveMaxPool2d(out), torch.nn.AdaptiveMaxPool2d(out), x, rng=rng)
    assert_same(ours, theirs, context=str(config))
    if not config["ties"]:
        _, indices = nn.AdaptiveMaxPool2d(out, return_indices=True)(x)
        _, indices_t = torch.nn.AdaptiveMaxPool2d(out, return_indices=True)(torch.from_numpy(x))
        np.testing.assert_array_equal(indices, indices_t.numpy())


def test_adaptive_bins_are_torchs_boundaries():
    assert kernels.pool.adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]  # overlapping by one pixel
    assert kernels.pool.adaptive_bins(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert kernels.pool.adaptive_bins(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]  # more bins than pixels
    x = rand(np.random.default_rng(0), 2, 3, 7, 5)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x)[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-6)


@pytest.mark.parametrize("make, x, message", [
    (lambda: nn.AdaptiveAvgPool2d(0), None, "output_size must be a positive int"),
    (lambda: nn.AdaptiveMaxPool2d((2, 2, 2)), None, "output_size must be a positive int"),
    (lambda: nn.AdaptiveAvgPool2d(2), np.zeros((3, 8, 8), np.float32), r"4-D input.*x\[None\]"),
])
def test_adaptive_pool_errors(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x)


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    nn.AvgPool2d(2, ceil_mode=True), nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
    nn.AdaptiveAvgPool2d((3, 2)), nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d((2, 4)),
], ids=repr)
def test_new_pools_gradcheck_in_float64(layer):
    x = np.random.default_rng(0).permutation(2 * 2 * 5 * 7).reshape(2, 2, 5, 7) / 10.0  # distinct: no ties
    assert nn.gradcheck(layer, x)
