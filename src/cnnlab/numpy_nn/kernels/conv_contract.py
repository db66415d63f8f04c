r"""What every convolution algorithm of the engine shares: the equation, the cache, the two signatures.

Layout NCHW, cross-correlation (kernel not flipped, as torch). On the already padded input ``xp`` ``(N, C, H, W)``
with weight ``W`` ``(O, C/G, kh, kw)``, bias ``b`` ``(O,)``, stride ``(sh, sw)``, dilation ``(dh, dw)`` and ``G``
groups, output channel ``d`` belongs to group ``g(d) = d // (O/G)``, whose input channels start at
``c0(d) = g(d) * C/G``::

    y[s, d, i, j] = b[d] + sum_{c < C/G} sum_{p < kh} sum_{q < kw}
                             xp[s, c0(d) + c, i*sh + p*dh, j*sw + q*dw] * W[d, c, p, q]

for ``0 <= i < H_out``, ``0 <= j < W_out`` (see :func:`cnnlab.numpy_nn.kernels.windows.output_hw`).

Every algorithm is a pair of functions with the same signatures, so they can be swapped, diffed and timed:

- ``forward(xp, weight, bias, stride, dilation, groups) -> (y, cache)``, ``y`` ``(N, O, H_out, W_out)``;
- ``backward(grad_out, cache, need_input_grad) -> (dL/dxp or None, dL/dW, dL/db or None)``; ``dL/dxp`` has the
  padded shape (the layer folds it back through the padding); ``None`` for ``dL/db`` without bias. With
  ``need_input_grad=False`` an algorithm may skip ``dL/dxp`` and return ``None`` (the first layer of a network
  does not need it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from cnnlab.geometry import Pair

__all__ = ["ConvBackward", "ConvCache", "ConvForward", "ConvGrads", "check_conv_geometry"]


class ConvCache(NamedTuple):
    """What a convolution's backward pass needs from its forward pass."""

    padded_shape: tuple[int, ...]  # (N, C, H, W) of the padded input
    weight: np.ndarray  # (O, C/G, kh, kw), as used by the forward pass
    has_bias: bool
    stride: Pair
    dilation: Pair
    groups: int
    saved: Any  # the algorithm's own: the padded input, or (textbook im2col) its column matrix


#: ``(dL/dxp or None, dL/dW, dL/db or None)``
ConvGrads = tuple[np.ndarray | None, np.ndarray, np.ndarray | None]
ConvForward = Callable[[np.ndarray, np.ndarray, np.ndarray | None, Pair, Pair, int], tuple[np.ndarray, ConvCache]]
ConvBackward = Callable[[np.ndarray, ConvCache, bool], ConvGrads]


def check_conv_geometry(xp: np.ndarray, weight: np.ndarray, groups: int) -> None:
    """``ValueError`` unless input ``(N, C, H, W)`` and weight ``(O, C/groups, kh, kw)`` fit together."""
    if xp.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d: expected a 4-D input (N, C, H, W) and weight (O, C/groups, kh, kw), got "
                         f"{xp.shape} and {weight.shape}")
    if xp.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"conv2d: input has {xp.shape[1]} channels but weight {weight.shape} with groups={groups} "
                         f"expects {weight.shape[1] * groups}")
    if weight.shape[0] % groups:
        raise ValueError(f"conv2d: {weight.shape[0]} output channels are not divisible by groups={groups}")
