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

``model.state_dict()`` has torch's keys and shapes (parameters and buffers such as BatchNorm's running statistics);
``load_state_dict`` takes NumPy arrays or torch tensors. Beyond the assignments' layers: ``Conv1d``, the normalisation
layers (``BatchNorm1d/2d``, ``LayerNorm``, ``GroupNorm``), adaptive and ``ceil_mode`` pooling, more activations,
``Residual`` (skip connections), ``NLLLoss`` and class weights / ``ignore_index`` / label smoothing, the optimizers
``AdamW`` and ``RMSprop`` with parameter groups, and torch's ``StepLR``, ``CosineAnnealingLR``, ``LinearLR`` (warm-up)
and ``SequentialLR`` -- all step for step like torch.
``Conv2d(..., algorithm=...)`` picks one of :data:`CONV_ALGORITHMS` (default :data:`DEFAULT_CONV_ALGORITHM`); the
array kernels behind the layers (padding, the convolution algorithms, pooling) are in :mod:`cnnlab.numpy_nn.kernels`.
BLAS threads are not set here: entry points use :mod:`cnnlab.threads`.
"""

from cnnlab.geometry import conv_output_size
from cnnlab.numpy_nn import init, kernels, warmup
from cnnlab.numpy_nn.activations import GELU, LeakyReLU, LogSoftmax, Sigmoid, Softmax, Tanh
from cnnlab.numpy_nn.gradcheck import GradcheckError, gradcheck
from cnnlab.numpy_nn.kernels.conv import CONV_ALGORITHMS, DEFAULT_CONV_ALGORITHM
from cnnlab.numpy_nn.layers import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    ReLU,
)
from cnnlab.numpy_nn.losses import CrossEntropyLoss, MSELoss, NLLLoss
from cnnlab.numpy_nn.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, OneCycleLR, SequentialLR, StepLR
from cnnlab.numpy_nn.module import Module, Parameter, Residual, Sequential, to_numpy_state_dict, to_torch_state_dict
from cnnlab.numpy_nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from cnnlab.numpy_nn.optim import SGD, Adam, AdamW, Optimizer, RMSprop

#: The exercise's name for the convolution layer (assignment 004 task 4.2, ``lib/convolutions.py``): the same class.
Conv2D = Conv2d

__all__ = [
    "CONV_ALGORITHMS", "DEFAULT_CONV_ALGORITHM", "GELU", "SGD", "Adam", "AdamW", "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2D", "Conv2d", "CosineAnnealingLR",
    "CrossEntropyLoss", "Dropout", "Flatten", "GradcheckError", "GroupNorm", "Identity", "LRScheduler", "LayerNorm",
    "LeakyReLU", "Linear", "LinearLR", "LogSoftmax", "MSELoss", "MaxPool2d", "Module", "NLLLoss", "OneCycleLR",
    "Optimizer", "Parameter", "RMSprop", "ReLU", "Residual", "Sequential", "SequentialLR", "Sigmoid", "Softmax",
    "StepLR", "Tanh", "conv_output_size", "gradcheck", "init", "kernels", "to_numpy_state_dict", "to_torch_state_dict",
    "warmup",
]
