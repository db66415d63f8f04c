"""cnnlab's NumPy CNN engine: layers with hand-written forward and backward passes, checked against PyTorch.

The API follows PyTorch so that people, tests and weights move freely between the two::

    from cnnlab import numpy_nn as nn

    model = nn.Sequential(nn.Conv2d(1, 5, 4, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(980, 10))
    criterion = nn.CrossEntropyLoss()
    optimizer = nn.SGD(model.parameters(), lr=0.01, momentum=0.9)

    optimizer.zero_grad()
    loss = criterion(model(x), y)          # a Python float
    model.backward(criterion.backward())   # hand-written backward through every layer
    optimizer.step()

``model.state_dict()`` has torch's keys and shapes; ``load_state_dict`` takes NumPy arrays or torch tensors.
``Conv2d(..., algorithm=...)`` picks one of :data:`CONV_ALGORITHMS` (default :data:`DEFAULT_CONV_ALGORITHM`); the
array kernels behind the layers (padding, the convolution algorithms, pooling) are in :mod:`cnnlab.numpy_nn.kernels`.
BLAS threads are not set here: entry points use :mod:`cnnlab.threads`.
"""

from cnnlab.geometry import conv_output_size
from cnnlab.numpy_nn import init, kernels, warmup
from cnnlab.numpy_nn.gradcheck import GradcheckError, gradcheck
from cnnlab.numpy_nn.kernels.conv import CONV_ALGORITHMS, DEFAULT_CONV_ALGORITHM
from cnnlab.numpy_nn.layers import AvgPool2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU
from cnnlab.numpy_nn.losses import CrossEntropyLoss, MSELoss
from cnnlab.numpy_nn.module import Module, Parameter, Sequential, to_numpy_state_dict, to_torch_state_dict
from cnnlab.numpy_nn.optim import SGD, Adam, OneCycleLR, Optimizer

__all__ = [
    "CONV_ALGORITHMS", "DEFAULT_CONV_ALGORITHM", "SGD", "Adam", "AvgPool2d", "Conv2d", "CrossEntropyLoss", "Dropout",
    "Flatten", "GradcheckError", "Identity", "Linear", "MSELoss", "MaxPool2d", "Module", "OneCycleLR", "Optimizer",
    "Parameter", "ReLU", "Sequential", "conv_output_size", "gradcheck", "init", "kernels", "to_numpy_state_dict",
    "to_torch_state_dict", "warmup",
]
