"""The convolution warm-up of assignment 004, as small documented building blocks.

From one scalar product to a whole convolution, one step at a time (all NCHW, cross-correlation):

1. :func:`pad_images` -- zero-pad a batch of images ``(N, C, H, W)``;
2. :func:`window_dot` -- one filter ``(C, kh, kw)`` times the window of one image whose top-left corner is
   ``(top, left)``: a single output value;
3. :func:`window_dot_batch` -- the same window of every image of a batch at once: ``(N,)``;
4. :func:`window_dot_filters` -- the same window of every image with every filter: ``(N, F)``, i.e. one output
   position ``y[:, :, i, j]`` of a convolution with ``top = i * stride``, ``left = j * stride``.

Looping (4) over all output positions is exactly the ``loops2`` convolution of
:mod:`cnnlab.numpy_nn.kernels.conv_reference`.
"""

from __future__ import annotations

import numpy as np

from cnnlab.geometry import to_pair
from cnnlab.numpy_nn.kernels.pad import pad2d

__all__ = ["pad_images", "window_dot", "window_dot_batch", "window_dot_filters"]


def pad_images(images: np.ndarray, padding: int | tuple[int, int]) -> np.ndarray:
    """Zero-pad the height and width of ``images`` ``(N, C, H, W)`` by ``padding`` pixels on each side.

    ``padding`` is an int or ``(pad_height, pad_width)``; the result is ``(N, C, H + 2ph, W + 2pw)``.

    >>> pad_images(np.ones((1, 1, 2, 2)), 1)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 1., 0.],
           [0., 1., 1., 0.],
           [0., 0., 0., 0.]])
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"pad_images: expected images (N, C, H, W), got shape {images.shape}")
    ph, pw = to_pair(padding, "padding", minimum=0)
    return pad2d(images, ((ph, ph), (pw, pw)))


def _window(images: np.ndarray, kernel_hw: tuple[int, int], top: int, left: int, what: str) -> np.ndarray:
    kh, kw = kernel_hw
    height, width = images.shape[-2:]
    if top < 0 or left < 0 or top + kh > height or left + kw > width:
        raise ValueError(f"{what}: a {kh}x{kw} window at top-left corner ({top}, {left}) does not fit in an image of "
                         f"{height}x{width} (needs 0 <= top <= {height - kh}, 0 <= left <= {width - kw})")
    return images[..., top:top + kh, left:left + kw]


def window_dot(image: np.ndarray, kernel: np.ndarray, top: int, left: int) -> float:
    """``sum(image[:, top:top+kh, left:left+kw] * kernel)`` for one image ``(C, H, W)`` and one filter ``(C, kh, kw)``.

    >>> window_dot(np.arange(9.0).reshape(1, 3, 3), np.ones((1, 2, 2)), 1, 0)
    20.0
    """
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 3 or kernel.ndim != 3 or image.shape[0] != kernel.shape[0]:
        raise ValueError(f"window_dot: expected image (C, H, W) and kernel (C, kh, kw) with the same C, got "
                         f"{image.shape} and {kernel.shape}")
    return float(np.sum(_window(image, kernel.shape[1:], top, left, "window_dot") * kernel))


def window_dot_batch(images: np.ndarray, kernel: np.ndarray, top: int, left: int) -> np.ndarray:
    """:func:`window_dot` for every image of ``images`` ``(N, C, H, W)`` at once: returns ``(N,)``."""
    images, kernel = np.asarray(images), np.asarray(kernel)
    if images.ndim != 4 or kernel.ndim != 3 or images.shape[1] != kernel.shape[0]:
        raise ValueError(f"window_dot_batch: expected images (N, C, H, W) and kernel (C, kh, kw) with the same C, "
                         f"got {images.shape} and {kernel.shape}")
    window = _window(images, kernel.shape[1:], top, left, "window_dot_batch")  # (N, C, kh, kw)
    return np.einsum("schw,chw->s", window, kernel)


def window_dot_filters(images: np.ndarray, kernels: np.ndarray, top: int, left: int) -> np.ndarray:
    """Every image ``(N, C, H, W)`` times every filter ``(F, C, kh, kw)`` at one window: returns ``(N, F)``."""
    images, kernels = np.asarray(images), np.asarray(kernels)
    if images.ndim != 4 or kernels.ndim != 4 or images.shape[1] != kernels.shape[1]:
        raise ValueError(f"window_dot_filters: expected images (N, C, H, W) and kernels (F, C, kh, kw) with the same "
                         f"C, got {images.shape} and {kernels.shape}")
    window = _window(images, kernels.shape[2:], top, left, "window_dot_filters")  # (N, C, kh, kw)
    return np.einsum("schw,fchw->sf", window, kernels)
