"""Own PyTorch layers: ``Linear`` and ``Conv2d`` built from tensor operations, drop-in for ``torch.nn``'s
(subclasses of ``nn.Linear`` / ``nn.Conv2d`` that replace only the computation; see :mod:`.layers`)."""

from cnnlab.torch_nn.functional import CONV_ALGORITHMS, conv2d, linear
from cnnlab.torch_nn.layers import Conv2d, Linear

__all__ = ["CONV_ALGORITHMS", "Conv2d", "Linear", "conv2d", "linear"]
