"""Fixed values derived by hand: the assignment's pen-and-paper task, small convolutions, pooling, losses, warm-up."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import numpy_nn as nn
from cnnlab.numpy_nn import warmup


@pytest.mark.parametrize("algorithm", nn.CONV_ALGORITHMS)
def test_seed_pen_and_paper_cross_correlation(algorithm):
    """Assignment 004 task 1: x = (1, 2, 3, 4), w = (2, 1, 3), b = 1, target y = (2, 4), L = 1/2 ||y - y_hat||^2.

    Forward: y_hat_1 = 1*2 + 2*1 + 3*3 + 1 = 14, y_hat_2 = 2*2 + 3*1 + 4*3 + 1 = 20; L = (12^2 + 16^2) / 2 = 200.
    Backward: dL/dy_hat = (12, 16); dL/dw_k = sum_i dL/dy_hat_i x_{i+k} = (1*12 + 2*16, 2*12 + 3*16, 3*12 + 4*16)
    = (44, 72, 100); dL/db = 28. SGD with lr 0.01: w = (1.56, 0.28, 2.0), b = 0.72; then
    y_hat = (8.84, 12.68) and L = (6.84^2 + 8.68^2) / 2 = 61.064.
    """
    conv = nn.Conv2d(1, 1, (1, 3), algorithm=algorithm)  # a 1-D cross-correlation as a 1 x 3 kernel
    conv.load_state_dict({"weight": np.array([2.0, 1.0, 3.0]).reshape(1, 1, 1, 3), "bias": np.array([1.0])})
    x = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32).reshape(1, 1, 1, 4)
    y = np.array([2.0, 4.0], dtype=np.float32).reshape(1, 1, 1, 2)
    half_sse = nn.MSELoss(reduction="sum")  # L = 1/2 * sum of squares: scale the gradient by 1/2
    y_hat = conv(x)
    np.testing.assert_array_equal(y_hat.ravel(), [14.0, 20.0])
    assert 0.5 * half_sse(y_hat, y) == 200.0
    conv.backward(half_sse.backward(0.5))
    np.testing.assert_array_equal(conv.weight.grad.ravel(), [44.0, 72.0, 100.0])
    np.testing.assert_array_equal(conv.bias.grad, [28.0])
    nn.SGD(conv.parameters(), lr=0.01).step()
    np.testing.assert_allclose(conv.weight.data.ravel(), [1.56, 0.28, 2.0], rtol=1e-6)
    np.testing.assert_allclose(conv.bias.data, [0.72], rtol=1e-6)
    y_hat = conv(x)
    np.testing.assert_allclose(y_hat.ravel(), [8.84, 12.68], rtol=1e-6)
    assert 0.5 * half_sse(y_hat, y) == pytest.approx(61.064, rel=1e-6)


def test_vertical_edge_detector():
    """A [-1, 1] kernel on a step image responds only where the step is, with the step's height."""
    image = np.zeros((1, 1, 3, 5), dtype=np.float32)
    image[..., 3:] = 2.0
    conv = nn.Conv2d(1, 1, (1, 2), bias=False)
    conv.load_state_dict({"weight": np.array([[[[-1.0, 1.0]]]])})
    expected = np.zeros((1, 1, 3, 4))
    expected[..., 2] = 2.0
    np.testing.assert_array_equal(conv(image), expected)


def test_stride_padding_dilation_by_hand():
    """3x3 input 1..9, 2x2 kernel of ones, padding 1, stride 2 -> window sums at the corners of the padded grid."""
    x = np.arange(1.0, 10.0, dtype=np.float32).reshape(1, 1, 3, 3)
    conv = nn.Conv2d(1, 1, 2, stride=2, padding=1, bias=False)
    conv.load_state_dict({"weight": np.ones((1, 1, 2, 2))})
    np.testing.assert_array_equal(conv(x)[0, 0], [[1.0, 2 + 3], [4 + 7, 5 + 6 + 8 + 9]])
    dilated = nn.Conv2d(1, 1, 2, dilation=2, bias=False)  # taps at distance 2: the four corners
    dilated.load_state_dict({"weight": np.ones((1, 1, 2, 2))})
    np.testing.assert_array_equal(dilated(x)[0, 0], [[1.0 + 3 + 7 + 9]])


def test_groups_keep_channels_apart():
    x = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 10.0)])[None].astype(np.float32)
    conv = nn.Conv2d(2, 2, 1, groups=2, bias=False)
    conv.load_state_dict({"weight": np.array([2.0, 3.0]).reshape(2, 1, 1, 1)})
    np.testing.assert_array_equal(conv(x)[0, :, 0, 0], [2.0, 30.0])


def test_pooling_by_hand():
    x = np.array([[1, 2, 5, 0, 7],
                  [3, 4, 6, 8, 1],
                  [0, 9, 2, 2, 3]], dtype=np.float32)[None, None]
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x)[0, 0], [[4, 8]])  # last row and column fill no window
    np.testing.assert_array_equal(nn.MaxPool2d(2, stride=1)(x)[0, 0], [[4, 6, 8, 8], [9, 9, 8, 8]])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x)[0, 0], [[2.5, 4.75]])
    pool = nn.MaxPool2d(2, stride=1)
    y = pool(x)
    dx = pool.backward(np.ones_like(y))
    # 8 wins four overlapping windows, 9 two, 4 and 6 one each
    assert dx[0, 0, 1, 3] == 4 and dx[0, 0, 2, 1] == 2 and dx[0, 0, 1, 1] == 1 and dx[0, 0, 1, 2] == 1
    assert dx.sum() == y.size


def test_cross_entropy_by_hand():
    """logits (0, ln 3) -> softmax (1/4, 3/4); label 1: loss = -ln(3/4); gradient = softmax - onehot."""
    crit = nn.CrossEntropyLoss()
    loss = crit(np.array([[0.0, np.log(3.0)]], dtype=np.float32), np.array([1]))
    assert loss == pytest.approx(-np.log(0.75), rel=1e-6)
    np.testing.assert_allclose(crit.backward(), [[0.25, -0.25]], rtol=1e-6)


def test_warmup_helpers():
    images = np.arange(2 * 2 * 4 * 4, dtype=np.float64).reshape(2, 2, 4, 4)
    padded = warmup.pad_images(images, 1)
    assert padded.shape == (2, 2, 6, 6) and padded[:, :, 0].sum() == 0 and padded[:, :, 1:5, 1:5].sum() == images.sum()
    assert warmup.pad_images(images, (0, 2)).shape == (2, 2, 4, 8)
    kernel = np.ones((2, 2, 2))
    # image 0 window at (1, 2): channel 0 rows 1-2 cols 2-3 = 6+7+10+11, channel 1 adds 16 to each
    assert warmup.window_dot(images[0], kernel, 1, 2) == 34 + 34 + 64
    np.testing.assert_array_equal(warmup.window_dot_batch(images, kernel, 1, 2), [132, 132 + 8 * 32])
    kernels = np.stack([kernel, -kernel, np.zeros_like(kernel)])
    np.testing.assert_array_equal(warmup.window_dot_filters(images, kernels, 1, 2),
                                  [[132, -132, 0], [388, -388, 0]])
    # the filters helper at every output position is the convolution itself
    weight = np.random.default_rng(0).standard_normal((3, 2, 2, 3))
    conv = nn.Conv2d(2, 3, (2, 3), stride=2, bias=False).double()
    conv.load_state_dict({"weight": weight})
    y = conv(images)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            np.testing.assert_allclose(warmup.window_dot_filters(images, weight, 2 * i, 2 * j), y[:, :, i, j])
    with pytest.raises(ValueError, match=r"a 2x2 window at top-left corner \(3, 0\) does not fit"):
        warmup.window_dot(images[0], kernel, 3, 0)
    with pytest.raises(ValueError, match="same C"):
        warmup.window_dot_batch(images, np.ones((3, 2, 2)), 0, 0)


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "expected"),
                         [(28, 4, 2, 1, 14), (14, 4, 2, 1, 7), (32, 5, 1, 0, 28), (7, 3, 3, 0, 2)])
def test_output_size_formula_in_layers(size, kernel, stride, padding, expected):
    assert nn.conv_output_size(size, kernel, stride, padding) == expected
    y = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)(np.zeros((1, 1, size, size), np.float32))
    assert y.shape[-2:] == (expected, expected)


def test_the_exercise_name_conv2d_is_the_engine_layer():
    """Assignment 004 calls the layer ``Conv2D``; it is the same class, so the exercise's code runs unchanged."""
    layer = nn.Conv2D(1, 1, 2, stride=1, padding=0, bias=False)
    assert nn.Conv2D is nn.Conv2d
    layer.weight.data[...] = np.array([[[[1.0, 0.0], [0.0, -1.0]]]], dtype=np.float32)
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer(x), np.full((1, 1, 2, 2), -4.0, dtype=np.float32))  # x[i,j] - x[i+1,j+1]
