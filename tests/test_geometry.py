"""The one output-size formula and the shared argument/input validation, checked against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from cnnlab.geometry import Conv2dSpec, channel_hint, check_image_batch, conv_output_size, resolve_padding, to_pair


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((28, 4, 2, 1), 14),  # assignment 004's conv1: (28 + 2 - 4) // 2 + 1
        ((14, 4, 2, 1), 7),  # assignment 004's conv2
        ((32, 5), 28),  # LeNet conv1
        ((14, 5), 10),  # LeNet conv2
        ((7, 3, 1, 0, 2), 3),  # dilation 2: effective kernel 5
        ((5, 5), 1),
        ((6, 2, 3), 2),  # stride that does not divide: floor
    ],
)
def test_known_values(args, expected):
    assert conv_output_size(*args) == expected
    assert type(conv_output_size(*args)) is int


def test_per_dimension_sequences_broadcast_ints():
    assert conv_output_size((32, 20), 5, padding=(2, 0)) == (32, 16)
    assert conv_output_size([9, 9, 9], 3, stride=[1, 2, 3]) == (7, 4, 3)
    assert conv_output_size((28,), 4, 2, 1) == (14,)


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3),
       sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 3), dw=st.integers(1, 3))
def test_agrees_with_torch_conv2d(h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    fits = all(d * (k - 1) + 1 <= i + 2 * p for i, k, p, d in ((h, kh, ph, dh), (w, kw, pw, dw)))
    x, weight = torch.zeros(1, 1, h, w), torch.zeros(1, 1, kh, kw)
    if not fits:
        with pytest.raises(ValueError, match="kernel covers"):
            conv_output_size((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
        return
    expected = F.conv2d(x, weight, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw)).shape[2:]
    assert conv_output_size((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw)) == tuple(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 3, "kernel_size": 5}, r"kernel covers 5 pixels .* padded input has only 3"),
        ({"input_size": (9, 3), "kernel_size": 5}, r"in dimension 1 the kernel covers 5"),
        ({"input_size": 9, "kernel_size": 3, "stride": 0}, "stride must be positive, got 0"),
        ({"input_size": 9, "kernel_size": 3, "dilation": -1}, "dilation must be positive"),
        ({"input_size": 9, "kernel_size": 3, "padding": -1}, "padding must be non-negative"),
        ({"input_size": 0, "kernel_size": 1}, "input_size must be positive"),
        ({"input_size": (9, 9), "kernel_size": (3, 3, 3)}, "disagree on the number of dimensions"),
    ],
)
def test_impossible_geometry_says_which_dimension_and_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(**kwargs)


@pytest.mark.parametrize("bad", [2.0, "3", None, (), True])
def test_non_integer_arguments_are_type_errors(bad):
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        conv_output_size(9, bad)


def test_numpy_integers_are_accepted():
    assert conv_output_size(np.int64(28), np.int32(4), 2, 1) == 14


def test_to_pair_and_resolve_padding():
    assert to_pair(3, "k") == (3, 3) and to_pair((2, 3), "k") == (2, 3)
    with pytest.raises(ValueError, match="pair of ints"):
        to_pair((1, 2, 3), "stride")
    assert resolve_padding("valid", (3, 3), (1, 1), (2, 2)) == ((0, 0), (0, 0))
    assert resolve_padding("same", (4, 3), (1, 2), (1, 1)) == ((1, 2), (2, 2))
    assert resolve_padding(2, (3, 3), (1, 1), (1, 1)) == ((2, 2), (2, 2))
    with pytest.raises(ValueError, match="not supported for strided"):
        resolve_padding("same", (3, 3), (1, 1), (2, 1))
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        resolve_padding("full", (3, 3), (1, 1), (1, 1))


@settings(max_examples=40, deadline=None)
@given(kh=st.integers(1, 6), kw=st.integers(1, 6), dh=st.integers(1, 3), dw=st.integers(1, 3))
def test_same_padding_keeps_size_and_matches_torch(kh, kw, dh, dw):
    spec = Conv2dSpec.from_args(1, 1, (kh, kw), padding="same", dilation=(dh, dw))
    x, weight = torch.randn(1, 1, 13, 11), torch.randn(1, 1, kh, kw)
    (top, bottom), (left, right) = spec.padding_sides
    ours = F.conv2d(F.pad(x, (left, right, top, bottom)), weight, dilation=(dh, dw))
    torch.testing.assert_close(ours, F.conv2d(x, weight, padding="same", dilation=(dh, dw)))
    assert spec.output_size(13, 11) == (13, 11)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_channels": 3, "out_channels": 8, "kernel_size": 3, "groups": 2}, "in_channels must be divisible"),
        ({"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 4}, "out_channels must be divisible"),
        ({"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding_mode": "mirror"}, "padding_mode must be"),
        ({"in_channels": 0, "out_channels": 8, "kernel_size": 3}, "in_channels must be a positive integer"),
        ({"in_channels": 3, "out_channels": 8, "kernel_size": 0}, "kernel_size must be positive"),
        ({"in_channels": 3, "out_channels": 8, "kernel_size": 3, "stride": 0}, "stride must be positive"),
        ({"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": -1}, "padding must be non-negative"),
        ({"in_channels": 3, "out_channels": 8, "kernel_size": 3, "padding": "same", "stride": 2}, "strided"),
    ],
)
def test_conv_spec_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv2dSpec.from_args(**kwargs)


def test_channel_hints_name_the_likely_cause():
    assert "channels-last" in channel_hint((2, 32, 32, 3), 3)
    assert "grayscale" in channel_hint((2, 1, 32, 32), 3)
    assert "RGB" in channel_hint((2, 3, 28, 28), 1)
    assert channel_hint((2, 5, 9, 9), 4) == ""


def test_check_image_batch_messages():
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8\): expected a 4-D input .* shape \(3, 32, 32\) .*x\[None\]"):
        check_image_batch("Conv2d(3, 8)", (3, 32, 32), 3)
    with pytest.raises(ValueError, match=r"expected input with 3 channels .* got shape \(4, 1, 32, 32\).*grayscale"):
        check_image_batch("conv1", (4, 1, 32, 32), 3)
    check_image_batch("conv1", (4, 3, 32, 32), 3)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_assigning_a_conv_attribute_changes_the_geometry_it_computes(engine):
    from cnnlab import numpy_nn, torch_nn

    conv = (numpy_nn if engine == "numpy" else torch_nn).Conv2d(2, 3, 3)
    x = np.ones((1, 2, 8, 8), np.float32)
    x = torch.from_numpy(x) if engine == "torch" else x
    assert tuple(conv(x).shape) == (1, 3, 6, 6)
    conv.padding = 1  # as torch users do; the layer must not keep computing with the old padding
    conv.stride = 2
    assert (conv.padding, conv.stride) == ((1, 1), (2, 2))
    assert tuple(conv(x).shape) == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="stride must be positive"):
        conv.stride = 0
    assert conv.stride == (2, 2)
