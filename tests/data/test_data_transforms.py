"""Pixel transforms: to_float, standardize, channel_stats, shift_images (known values), augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnlab.data import CIFAR10, channel_stats, random_crop_flip, shift_images, standardize, to_float

IMG = np.arange(1, 13, dtype=np.uint8).reshape(3, 4)  # 3 rows, 4 columns
# [[ 1  2  3  4]
#  [ 5  6  7  8]
#  [ 9 10 11 12]]


def test_shift_right_down_known_values():
    out = shift_images(IMG, dx=1, dy=1)
    np.testing.assert_array_equal(out, [[0, 0, 0, 0], [0, 1, 2, 3], [0, 5, 6, 7]])
    assert out.dtype == np.uint8 and out.shape == IMG.shape


def test_shift_left_up_known_values():
    np.testing.assert_array_equal(shift_images(IMG, dx=-2, dy=-1), [[7, 8, 0, 0], [11, 12, 0, 0], [0, 0, 0, 0]])


def test_shift_one_axis_and_fill():
    np.testing.assert_array_equal(shift_images(IMG, 0, 2, fill=255), [[255] * 4, [255] * 4, [1, 2, 3, 4]])
    np.testing.assert_array_equal(shift_images(IMG, -1, 0), [[2, 3, 4, 0], [6, 7, 8, 0], [10, 11, 12, 0]])
    np.testing.assert_array_equal(shift_images(IMG, 0, 0), IMG)
    assert shift_images(IMG, 0, 0) is not IMG


def test_shift_wrap_known_values():
    np.testing.assert_array_equal(shift_images(IMG, 1, 1, mode="wrap"), [[12, 9, 10, 11], [4, 1, 2, 3], [8, 5, 6, 7]])
    np.testing.assert_array_equal(shift_images(IMG, -1, -1, mode="wrap"), [[6, 7, 8, 5], [10, 11, 12, 9], [2, 3, 4, 1]])
    np.testing.assert_array_equal(shift_images(IMG, 4, 3, mode="wrap"), IMG)  # a full turn


def test_shift_beyond_the_image_leaves_only_fill():
    np.testing.assert_array_equal(shift_images(IMG, 4, 0, fill=9), np.full_like(IMG, 9))
    np.testing.assert_array_equal(shift_images(IMG, 0, -5), np.zeros_like(IMG))


def test_shift_batches_nchw_only_moves_the_last_two_axes():
    batch = np.stack([IMG, IMG + 100]).reshape(2, 1, 3, 4)
    batch = np.concatenate([batch, batch + 20], axis=1)  # (2, 2, 3, 4)
    out = shift_images(batch, 2, 2)
    assert out.shape == batch.shape
    for n in range(2):
        for c in range(2):
            np.testing.assert_array_equal(out[n, c], shift_images(batch[n, c], 2, 2))
    assert out[0, 0, 2, 2] == 1 and out[1, 1, 2, 3] == 122


def test_shift_float_and_bad_arguments():
    x = np.ones((2, 2), np.float32)
    out = shift_images(x, 1, 0, fill=-0.5)
    assert out.dtype == np.float32 and out[0, 0] == -0.5
    with pytest.raises(ValueError, match="mode must be 'fill' or 'wrap'"):
        shift_images(x, 1, 0, mode="reflect")
    with pytest.raises(ValueError, match="whole pixels"):
        shift_images(x, 0.5, 0)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        shift_images(np.ones(3), 1, 0)


@given(
    img=hnp.arrays(np.int16, hnp.array_shapes(min_dims=2, max_dims=4, max_side=6)),
    dx=st.integers(-8, 8),
    dy=st.integers(-8, 8),
)
def test_shift_properties(img, dx, dy):
    h, w = img.shape[-2:]
    out = shift_images(img, dx, dy, fill=-1)
    assert out.shape == img.shape and out.dtype == img.dtype
    # every output pixel is the input pixel (y - dy, x - dx) or the fill
    for y in range(h):
        for x in range(w):
            sy, sx = y - dy, x - dx
            expect = img[..., sy, sx] if 0 <= sy < h and 0 <= sx < w else -1
            np.testing.assert_array_equal(out[..., y, x], expect)
    # shifting back restores the overlap; wrap is invertible
    np.testing.assert_array_equal(shift_images(shift_images(img, dx, dy, mode="wrap"), -dx, -dy, mode="wrap"), img)


def test_to_float():
    x = to_float(np.array([[[[0, 51, 255]]]], np.uint8))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), [0, 0.2, 1])
    with pytest.raises(TypeError, match=r"expected uint8 pixels 0\.\.255, got float32"):
        to_float(x)


def test_standardize_per_channel():
    imgs = np.zeros((2, 3, 2, 2), np.uint8)
    imgs[:, 1] = 255
    out = standardize(imgs, mean=(0.0, 0.5, 0.25), std=(1.0, 0.5, 0.25))
    assert out.dtype == np.float32 and out.shape == imgs.shape
    np.testing.assert_allclose(out[:, 0], 0)
    np.testing.assert_allclose(out[:, 1], 1)
    np.testing.assert_allclose(out[:, 2], -1)
    # float input in [0, 1] gives the same; (C, H, W) works too
    np.testing.assert_allclose(standardize(imgs / 255.0, (0.0, 0.5, 0.25), (1.0, 0.5, 0.25)), out)
    np.testing.assert_allclose(standardize(imgs[0], (0.0, 0.5, 0.25), (1.0, 0.5, 0.25)), out[0])


def test_standardize_errors_name_the_likely_cause():
    nhwc = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"images have 32 channel\(s\).*NHWC"):
        standardize(nhwc, *CIFAR10.stats)
    with pytest.raises(ValueError, match="std must be > 0"):
        standardize(np.zeros((1, 1, 2, 2)), (0.0,), (0.0,))
    with pytest.raises(ValueError, match="add a channel axis"):
        standardize(np.zeros((28, 28), np.uint8), (0.1,), (0.3,))


def test_channel_stats():
    imgs = np.zeros((4, 2, 3, 3), np.uint8)
    imgs[:2, 0] = 255
    imgs[:, 1] = 51
    mean, std = channel_stats(imgs)
    np.testing.assert_allclose(mean, (0.5, 0.2))
    np.testing.assert_allclose(std, (0.5, 0.0), atol=1e-12)
    np.testing.assert_allclose(channel_stats(imgs / 255.0)[0], (0.5, 0.2))


def test_random_crop_flip_shapes_and_determinism():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 8, 8)).astype(np.float32)
    x_before = x.copy()
    aug = random_crop_flip(padding=2)
    a = aug(x, np.random.default_rng(42))
    b = aug(x, np.random.default_rng(42))
    c = aug(x, np.random.default_rng(43))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(x, x_before)  # input untouched


def test_random_crop_flip_outputs_are_shifted_or_mirrored_inputs():
    x = np.arange(40 * 1 * 5 * 5, dtype=np.float32).reshape(40, 1, 5, 5) + 1  # no zeros inside
    out = random_crop_flip(padding=1)(x, np.random.default_rng(0))
    seen_flip = seen_shift = False
    for i in range(len(x)):
        matches = [
            (flip, dx, dy)
            for flip in (False, True)
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            if np.array_equal(out[i, 0], shift_images(x[i, 0][:, ::-1] if flip else x[i, 0], dx, dy))
        ]
        assert matches, f"sample {i} is not a padded crop (+ flip) of its input"
        seen_flip |= any(m[0] for m in matches) and not any(not m[0] for m in matches)
        seen_shift |= all(m[1:] != (0, 0) for m in matches)
    assert seen_flip and seen_shift


def test_random_crop_flip_options():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    np.testing.assert_array_equal(random_crop_flip(padding=0, flip=False)(x, np.random.default_rng(0)), x)
    flipped = random_crop_flip(padding=0)(x, np.random.default_rng(0))
    for i in range(2):
        assert np.array_equal(flipped[i], x[i]) or np.array_equal(flipped[i], x[i, :, :, ::-1])
    with pytest.raises(ValueError, match="padding must be a whole number >= 0"):
        random_crop_flip(padding=-1)
    with pytest.raises(ValueError, match=r"expected a batch \(N, C, H, W\)"):
        random_crop_flip()(np.zeros((1, 1, 1, 4, 4)), np.random.default_rng(0))


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_random_crop_flip_known_answer(dtype):
    """Image i is the window of the padded image at the offsets drawn for it (rows, then columns), mirrored where
    the flip draw that follows says so: pins the draw order, so runs stay reproducible across versions."""
    x = (np.arange(5 * 2 * 6 * 7) % 250 + 1).astype(dtype).reshape(5, 2, 6, 7)
    out = random_crop_flip(padding=3, fill=7)(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    oy, ox = rng.integers(0, 7, size=5), rng.integers(0, 7, size=5)
    flips = rng.random(5) < 0.5
    padded = np.pad(x, ((0, 0), (0, 0), (3, 3), (3, 3)), constant_values=7)
    assert out.dtype == dtype and out.shape == x.shape
    for i in range(5):
        want = padded[i, :, oy[i]:oy[i] + 6, ox[i]:ox[i] + 7]
        np.testing.assert_array_equal(out[i], want[..., ::-1] if flips[i] else want)
