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
"""

from cnnlab.geometry import conv_output_size
from cnnlab.numpy_nn import functional, init, warmup
from cnnlab.numpy_nn.gradcheck import GradcheckError, gradcheck
from cnnlab.numpy_nn.layers import AvgPool2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU
from cnnlab.numpy_nn.losses import CrossEntropyLoss, MSELoss
from cnnlab.numpy_nn.module import Module, Parameter, Sequential, to_numpy_state_dict, to_torch_state_dict
from cnnlab.numpy_nn.optim import SGD, Adam, OneCycleLR, Optimizer

__all__ = [
    "SGD", "Adam", "AvgPool2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "GradcheckError", "Identity",
    "Linear", "MSELoss", "MaxPool2d", "Module", "OneCycleLR", "Optimizer", "Parameter", "ReLU", "Sequential",
    "conv_output_size", "functional", "gradcheck", "init", "to_numpy_state_dict", "to_torch_state_dict", "warmup",
]
