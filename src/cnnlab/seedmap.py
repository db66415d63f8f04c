"""Where each task of the two assignments lives in cnnlab: the command to run, the library names, and the part
of ``cnnlab run``'s report that shows it (the README's task table and the report's appendix come from here).

Assignment 000 is "Assignment 2 - Convolutional Networks" (CIFAR-10, PyTorch); assignment 004 is the exercise on
convolutions with the NumPy framework (MNIST). Their course logistics (deadlines, uploads, feedback files) are not
part of cnnlab and not listed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedTask:
    """One task: which assignment, its number and what it asks; the exercise's own names (functions, files); the
    cnnlab command, the library names, and the report part (a registry entry name) that answer it."""

    assignment: str
    task: str
    asks: str
    exercise_names: str
    command: str
    library: str
    part: str


SEED_TASKS: tuple[SeedTask, ...] = (
    SeedTask("000", "1.0", "load the CIFAR-10 training and test splits", "torchvision dataloaders",
             "cnnlab data show cifar10", "cnnlab.data.load_dataset('cifar10', split)", "cifar-data"),
    SeedTask("000", "1.1", "define the LeNet-style network with torch.nn", "—", "cnnlab train --recipe cifar-lenet",
             "cnnlab.models.build_model('lenet', 'torch')", "cifar-training"),
    SeedTask("000", "1.2", "train it, track loss and accuracy on training and validation data, plot the curves",
             "—", "cnnlab train --recipe cifar-lenet", "cnnlab.training.train_model", "cifar-training"),
    SeedTask("000", "2.1", "an own fully connected layer; difference to nn.Linear before and after copying the weights",
             "myLinear", "cnnlab compare", "cnnlab.torch_nn.Linear", "compare"),
    SeedTask("000", "3.1", "an own 2-D convolution; mean absolute difference to nn.Conv2d on real images", "myConv2d",
             "cnnlab compare", "cnnlab.torch_nn.Conv2d", "compare"),
    SeedTask("000", "3.2", "the LeNet from the own layers with the trained weights: accuracy on a few test images, "
             "average inference time of both networks and their ratio", "—", "cnnlab compare",
             "cnnlab.models.build_model('lenet', 'torch-own')", "compare"),
    SeedTask("000", "3.3", "the first 5 channels after every conv and pooling layer for 3 images, normalised to "
             "[0, 1]", "—", "cnnlab featuremaps", "cnnlab.experiments.featuremaps.feature_maps", "featuremaps"),
    SeedTask("004", "1", "pen and paper: forward pass and loss of a 1-D cross-correlation, backward pass, one "
             "update and a second forward pass", "—", "cnnlab xcorr1d", "cnnlab.experiments.xcorr1d.worked_example",
             "xcorr1d"),
    SeedTask("004", "2", "look at the MNIST images (N, 1, 28, 28)", "plot_mnist.py", "cnnlab data show mnist",
             "cnnlab.data.load_dataset('mnist', split)", "mnist-data"),
    SeedTask("004", "3", "the formula of a convolution's output size",
             "calculate_conv_output, show_conv_output_dims.py", "cnnlab conv-output",
             "cnnlab.calculate_conv_output, cnnlab.geometry.conv_output_size", "conv-output"),
    SeedTask("004", "4.1", "the convolution warm-up: padding, one window's dot product, batched, many filters",
             "convolution_warmup.py (pad_array, dot_product_single_filter, ...)", "cnnlab warmup",
             "cnnlab.numpy_nn.warmup", "warmup"),
    SeedTask("004", "4.2", "the forward pass of a 2-D convolution layer with stride and padding (at most two loops)",
             "Conv2D, run_simple_conv.py", "cnnlab engine-check",
             "cnnlab.numpy_nn.Conv2d (algorithm 'loops2': two loops)", "engine-check"),
    SeedTask("004", "5", "train the CNN on MNIST (about 96% after 10 epochs), --max_datapoints",
             "create_conv_model, run_conv_experiment.py", "cnnlab train --recipe mnist-seed",
             "cnnlab.models.build_model('mnist-cnn', 'numpy')", "mnist-training"),
    SeedTask("004", "6.1", "MLP vs CNN on validation digits shifted 2 px right and down",
             "run_shifted_conv_experiment, shift_data, run_shifted_conv_experiment.py", "cnnlab equivariance",
             "cnnlab.experiments.equivariance, cnnlab.data.shift_data", "equivariance"),
    SeedTask("004", "6.2", "the three questions on the accuracies, the MLP's remedy and the CNN's loss", "—",
             "cnnlab equivariance", "cnnlab.experiments.equivariance.answers", "equivariance"),
    SeedTask("004", "7", "code style (pycodestyle, lines up to 120)", "—", "ruff check .",
             "pyproject.toml [tool.ruff] line-length = 120", "—"),
)
