"""The convolution algorithms by name -- one registry -- and a functional ``conv2d`` (forward only).

======== ===================================================== ===========================================
name     what it does                                           module
======== ===================================================== ===========================================
naive    the equation's seven nested loops (the reference)      :mod:`~.conv_reference`
loops2   two loops over output positions, broadcast over the    :mod:`~.conv_reference`
         batch, channels and filters
im2col   textbook: whole-batch columns, one matrix product per  :mod:`~.conv_im2col`
         group, col2im in the backward pass
fast     im2col in cache-sized chunks, "wide" stride-1 columns, :mod:`~.conv_fast`
         flat contiguous input gradient (the default)
======== ===================================================== ===========================================

All four compute the same numbers up to float rounding and follow :mod:`~.conv_contract`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab.geometry import Pair
from cnnlab.numpy_nn.kernels.conv_contract import ConvBackward, ConvForward
from cnnlab.numpy_nn.kernels.conv_fast import conv2d_fast, conv2d_fast_backward
from cnnlab.numpy_nn.kernels.conv_im2col import conv2d_im2col, conv2d_im2col_backward
from cnnlab.numpy_nn.kernels.conv_reference import (
    conv2d_loops2,
    conv2d_loops2_backward,
    conv2d_naive,
    conv2d_naive_backward,
)
from cnnlab.numpy_nn.kernels.pad import Padding2d, pad2d

__all__ = ["CONV_ALGORITHMS", "CONV_KERNELS", "DEFAULT_CONV_ALGORITHM", "ConvAlgorithm", "conv2d", "conv_algorithm"]


class ConvAlgorithm(NamedTuple):
    """One convolution algorithm: its ``forward`` and ``backward`` (signatures in :mod:`~.conv_contract`)."""

    forward: ConvForward
    backward: ConvBackward


#: Every convolution algorithm of the engine, by name, slowest first.
CONV_KERNELS: dict[str, ConvAlgorithm] = {
    "naive": ConvAlgorithm(conv2d_naive, conv2d_naive_backward),
    "loops2": ConvAlgorithm(conv2d_loops2, conv2d_loops2_backward),
    "im2col": ConvAlgorithm(conv2d_im2col, conv2d_im2col_backward),
    "fast": ConvAlgorithm(conv2d_fast, conv2d_fast_backward),
}
CONV_ALGORITHMS: tuple[str, ...] = tuple(CONV_KERNELS)
DEFAULT_CONV_ALGORITHM = "fast"


def conv_algorithm(name: str, caller: str = "conv2d") -> ConvAlgorithm:
    """The registered algorithm ``name``; a ``ValueError`` naming ``caller`` and the choices otherwise."""
    try:
        return CONV_KERNELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{caller}: algorithm must be one of {list(CONV_ALGORITHMS)}, got {name!r}") from None


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride: int | Pair = 1,
           padding: int | Pair | Padding2d = 0, dilation: int | Pair = 1, groups: int = 1,
           padding_mode: str = "zeros", algorithm: str = DEFAULT_CONV_ALGORITHM) -> np.ndarray:
    """Functional 2-D convolution ``(N, C, H, W) -> (N, O, H_out, W_out)``, like ``torch.nn.functional.conv2d``
    plus ``padding_mode`` and ``algorithm``: pad (:func:`~.pad.pad2d`), then the algorithm's unpadded forward.

    ``padding``: an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``. Forward only; the layer
    :class:`cnnlab.numpy_nn.Conv2d` also runs the backward pass.
    """
    kernel = conv_algorithm(algorithm)
    stride_pair = (stride, stride) if isinstance(stride, int) else (int(stride[0]), int(stride[1]))
    dilation_pair = (dilation, dilation) if isinstance(dilation, int) else (int(dilation[0]), int(dilation[1]))
    xp = pad2d(x, padding, padding_mode)
    return kernel.forward(xp, weight, bias, stride_pair, dilation_pair, groups)[0]
