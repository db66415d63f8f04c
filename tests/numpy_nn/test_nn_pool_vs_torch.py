"""Pooling equals torch: overlapping windows, odd sizes, strides that do not divide, padding, ties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nnhelpers import assert_same, rand, run_both

from cnnlab import numpy_nn as nn


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
