"""The NumPy engine's kernels: pure functions on arrays, one concept per module, in reading order.

- :mod:`~.pad` -- padding ``(N, C, H, W)`` in torch's four modes, and its backward pass;
- :mod:`~.windows` -- sliding-window geometry (output size, the pixels one kernel position reads);
- :mod:`~.conv_contract` -- the convolution equation and the signatures every algorithm follows;
- :mod:`~.conv_reference` -- ``naive`` and ``loops2``, straight from the forward and backward equations;
- :mod:`~.conv_im2col` -- the textbook ``im2col`` algorithm (and the ``im2col`` / ``col2im`` helpers);
- :mod:`~.conv_fast` -- ``fast``, the default: im2col reorganised for the CPU cache;
- :mod:`~.conv` -- the registry of convolution algorithms and a functional ``conv2d``;
- :mod:`~.pool` -- max and average pooling (also ``ceil_mode`` and adaptive bins);
- :mod:`~.norm` -- normalisation over some axes (BatchNorm, LayerNorm, GroupNorm).

Kernels take already padded inputs and return ``(output, cache)``; their backward functions take the cache. The
layers of :mod:`cnnlab.numpy_nn.layers` and :mod:`cnnlab.numpy_nn.normalization` validate, pad, choose the kernel
and keep the cache.
"""

from cnnlab.numpy_nn.kernels.conv import CONV_ALGORITHMS, CONV_KERNELS, DEFAULT_CONV_ALGORITHM, conv2d
from cnnlab.numpy_nn.kernels.conv_im2col import col2im, im2col
from cnnlab.numpy_nn.kernels.pad import pad2d, pad2d_backward

__all__ = ["CONV_ALGORITHMS", "CONV_KERNELS", "DEFAULT_CONV_ALGORITHM", "col2im", "conv2d", "im2col", "pad2d",
           "pad2d_backward"]
