r"""Normalisation over some axes, forward and backward -- the one computation behind BatchNorm, LayerNorm and
GroupNorm (they differ only in the axes they normalise over and where their statistics come from).

Over a set ``A`` of axes with ``m`` elements each (e.g. BatchNorm2d: ``A = (N, H, W)``, one statistic per channel)::

    mu = mean_A(x),   var = mean_A((x - mu)^2)            (biased variance, as the forward pass of torch uses)
    x_hat = (x - mu) / sqrt(var + eps)

Backward: ``x_hat`` depends on ``x`` directly and through ``mu`` and ``var``; with ``g = dL/dx_hat`` and
``s = 1 / sqrt(var + eps)`` the three paths sum to::

    dL/dx = s * (g - mean_A(g) - x_hat * mean_A(g * x_hat))

(the gradient minus its mean and minus its component along ``x_hat``: normalisation cannot change the mean or
the scale of its input, so neither direction gets a gradient).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["NormCache", "normalize", "normalize_backward"]


class NormCache(NamedTuple):
    """What the backward pass needs: the normalised input and ``1 / sqrt(var + eps)`` (kept dims)."""

    x_hat: np.ndarray
    inv_std: np.ndarray
    axes: tuple[int, ...]


def normalize(x: np.ndarray, axes: tuple[int, ...],
              eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, NormCache]:
    """``(x_hat, mean, biased variance, cache)`` of ``x`` over ``axes`` (statistics with kept dimensions)."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = np.square(centered).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    x_hat = centered * inv_std
    return x_hat, mean, var, NormCache(x_hat, inv_std, axes)


def normalize_backward(grad_x_hat: np.ndarray, cache: NormCache) -> np.ndarray:
    """``dL/dx = s * (g - mean(g) - x_hat * mean(g * x_hat))`` over the cached axes (see the module docstring)."""
    g, x_hat, axes = grad_x_hat, cache.x_hat, cache.axes
    return cache.inv_std * (g - g.mean(axis=axes, keepdims=True)
                            - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))
