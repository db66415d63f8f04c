"""Source of notebooks/seed000_cifar10_cnn.ipynb (assignment 000: convolutional networks on CIFAR-10).

Percent format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell (its lines start with ``# ``).
Edit this file, then run ``python notebooks/build_notebooks.py`` to rewrite the notebook.
"""

# %% [markdown]
# # Assignment 000 — Convolutional networks on CIFAR-10, told with cnnlab
#
# The assignment in four steps:
#
# 1. **Classification** (tasks 1.0–1.2): load CIFAR-10, define the LeNet-style network with `torch.nn`, train it
#    and plot loss and accuracy for the training and the validation set.
# 2. **A fully connected layer** (task 2.1): our own `Linear`, compared with `nn.Linear` before and after copying
#    the parameters.
# 3. **A convolutional layer** (tasks 3.1–3.2): our own `Conv2d` on real images, the same network built from our
#    layers with the trained weights loaded, accuracy and inference time of both.
# 4. **Feature maps** (task 3.3): what the trained network computes after each convolution and pooling layer.
#
# Each idea is shown once from scratch, in a few lines that follow the assignment's equation, and once with the library
# layer (`cnnlab.torch_nn`) next to PyTorch's.
#
# The steps run as cnnlab's experiments do: each experiment takes its settings and a `Context` (where the data
# are, where results go, the datasets and trained networks it shares with the others) and returns a result, from
# which `cnnlab.plots` draws the figures and `cnnlab.report.sections` builds the tables printed here (the same
# ones `cnnlab run` puts into its report).
#
# **Settings.** With `CNNLAB_NOTEBOOK_QUICK=1` the notebook runs a smoke test (a few hundred training images, one
# epoch, shorter timings); otherwise it uses the assignment's full data and cnnlab's `cifar-lenet` recipe. Data come
# from `$CNNLAB_DATA` (torchvision's layout; `cnnlab data download cifar10` fetches them), figures and the trained
# network go to a temporary folder (or `$CNNLAB_NOTEBOOK_OUT`), never into the repository.

# %%
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from IPython.display import Image, display
from torch import nn

from cnnlab.experiments.base import Context
from cnnlab.report import render_text

QUICK = os.environ.get("CNNLAB_NOTEBOOK_QUICK") == "1"
DATA_ROOT = os.environ.get("CNNLAB_DATA")  # None: cnnlab's default root ./data
OUT = Path(os.environ.get("CNNLAB_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="cnnlab-seed000-"))
OUT.mkdir(parents=True, exist_ok=True)

# Training: a smoke run of a few hundred images for one epoch, or the cifar-lenet recipe as it is (25 epochs).
TRAINING = {"epochs": 1, "max_datapoints": 300} if QUICK else {}
SEED = 0
PROGRESS = not QUICK  # text progress bars (and a line per epoch) for the long full training run
# Without ipywidgets tqdm falls back to text bars, which is fine here: no need to warn about it.
warnings.filterwarnings("ignore", message="IProgress not found")
torch.manual_seed(SEED)
# One context for the whole notebook: it reads each dataset once and trains networks into OUT / <recipe>.
context = Context(OUT, data_root=Path(DATA_ROOT) if DATA_ROOT else None, quick=QUICK, seed=SEED, progress=PROGRESS)
print(f"quick={QUICK}, data root={DATA_ROOT or './data'}, figures in {OUT}")

# %% [markdown]
# ## 1. Classification
#
# ### Task 1.0 — the data
#
# `context.dataset` (`cnnlab.data.load_dataset` underneath) reads the standard CIFAR-10 files once and returns each
# split as uint8 arrays in `(N, C, H, W)` layout. The assignment trains on the training files and tests on `test_batch`;
# to follow the validation accuracy during training without touching the test set, cnnlab holds out 5,000 training
# images (a fixed, seeded choice) as the validation split. The dataset-overview experiment summarises the splits
# (size, class balance, mean pixel) and draws the first training images.

# %%
from cnnlab import data
from cnnlab.experiments import dataset_overview
from cnnlab.plots import dataset_overview as overview_plots
from cnnlab.report.sections import dataset_overview as overview_section

overview = dataset_overview.run(dataset_overview.DatasetOverviewSettings("cifar10", samples=16), context)
print(render_text(overview_section.section(overview, {})))
classes = overview.classes
print("\nclasses:", ", ".join(classes))
splits = {split: context.dataset("cifar10", split) for split in data.SPLITS}  # the same arrays, read once
for name, ds in splits.items():
    print(f"{name:5s}: images {ds.images.dtype} {ds.images.shape}, labels {ds.labels.shape}")
display(Image(overview_plots.figures(overview, OUT)["samples"]))

# %% [markdown]
# For training, the pixels are scaled to [0, 1] and standardised per channel with the published CIFAR-10 mean
# and standard deviation (`prepare(..., "standard")`), so every split is scaled the same way.

# %%
x_train, y_train = data.prepare(splits["train"], "standard")
x_test, y_test = data.prepare(splits["test"], "standard")
print("x_train", x_train.dtype, x_train.shape, f"mean {x_train.mean():.3f}, std {x_train.std():.3f}")

# %% [markdown]
# ### Task 1.1 — the network
#
# conv 8@5×5, ReLU, 2×2 max-pool, conv 16@5×5, ReLU, 2×2 max-pool, fully connected 128, ReLU, 64, ReLU, 10.
# `cnnlab.models.build_model("lenet", "torch")` writes exactly this with `torch.nn` layers; the layers are named
# (`conv1`, `pool1`, `fc1`, ...) so the same `state_dict` fits every engine. The shapes follow from
# `O = ⌊(I + 2P − K) / S⌋ + 1`: 32 → 28 → 14 → 10 → 5, hence 16·5·5 = 400 inputs to `fc1`.

# %%
from cnnlab.models import build_model, count_parameters

model = build_model("lenet", "torch", seed=SEED)
print(model)
print(f"{count_parameters(model):,} parameters")

# %% [markdown]
# ### Task 1.2 — training and evaluation
#
# Cross-entropy loss (the classification loss), SGD with momentum and weight decay, a one-cycle learning-rate
# schedule and random crop + flip augmentation: cnnlab's `cifar-lenet` recipe (`cnnlab.training.recipe`).
# `context.train` builds the network and these training pieces from the recipe (`cnnlab.training.training_kit`),
# runs the epochs with `cnnlab.training.fit`, which records loss and accuracy on the training and the validation set
# after every epoch, tests the network and saves it with its settings into `OUT / "cifar-lenet"`, the folder that
# `cnnlab train --recipe cifar-lenet` would write.

# %%
from cnnlab.experiments.train import TrainingResult
from cnnlab.plots.curves import plot_history
from cnnlab.report.sections import train as train_section

trained = context.train("cifar-lenet", **TRAINING)
history = trained.result.history
print(render_text(train_section.section(TrainingResult({"cifar-lenet": trained.result}), {})))
if QUICK:
    print("\nQuick mode: one epoch on a few hundred images, so the accuracies are near chance (10%); the full run "
          "trains 25 epochs on 45,000 images.")
display(Image(plot_history(history, OUT / "cifar10-lenet-curves.png", title="LeNet on CIFAR-10 (torch.nn)")))
model = trained.load("torch").eval()  # the trained network, from its folder

# %% [markdown]
# Validation accuracy above training accuracy is expected here: the training images are randomly cropped and
# flipped and the training figures are averages over the epoch while the weights still change, whereas validation
# runs on the clean images with the weights at the end of the epoch.
#
# ## 2. A fully connected layer (task 2.1)
#
# For a batch of inputs `x` of shape `(B, c_in)`, equation 3 of the assignment reads
# `y[s, d] = Σ_c W[d, c] · x[s, c] + b[d]`. From scratch that is one `einsum` (the sum over `c` for every sample
# `s` and neuron `d`); `cnnlab.torch_nn.Linear` is the same computation packaged as an `nn.Module` with
# `nn.Linear`'s parameter names, shapes and initialisation, so `load_state_dict` works between them.

# %%
from cnnlab import torch_nn


def linear_from_scratch(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Equation 3: x (B, c_in), weight (c_out, c_in), bias (c_out,) -> (B, c_out)."""
    return torch.einsum("dc,sc->sd", weight, x) + bias


linear = nn.Linear(8, 16)
my_linear = torch_nn.Linear(8, 16)
x_random = torch.randn(32, 8)
with torch.no_grad():
    before = (linear(x_random) - my_linear(x_random)).abs().mean().item()
    my_linear.load_state_dict(linear.state_dict())
    after = (linear(x_random) - my_linear(x_random)).abs().mean().item()
    scratch = (linear(x_random) - linear_from_scratch(x_random, linear.weight, linear.bias)).abs().mean().item()
print(my_linear)
print(f"mean |nn.Linear - own Linear|: {before:.4f} with their own random weights, {after:.2e} after copying")
print(f"mean |nn.Linear - equation 3 from scratch|: {scratch:.2e}")

# %% [markdown]
# Before the copy both layers hold different random weights, so the outputs differ by about the size of the
# outputs themselves; after the copy the difference is zero or float32 rounding (different summation order).
#
# ## 3. A convolutional layer (task 3.1)
#
# Equation 4: `y[s, d, i, j] = Σ_c Σ_n Σ_m x[s, c, i+n, j+m] · W[d, c, n, m] + b[d]`. From scratch with two loops
# over the output positions, the sum over `c, n, m` for all samples and filters at once is one `einsum` over the
# window. `cnnlab.torch_nn.Conv2d` offers two algorithms: `naive` (exactly this loop) and `im2col` (all windows
# unfolded into a matrix, one matrix product). We compare each with `nn.Conv2d` on real CIFAR-10 test images.

# %%
def conv2d_from_scratch(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Equation 4 (stride 1, no padding): x (N, C, H, W), weight (D, C, K, K), bias (D,) -> (N, D, H-K+1, W-K+1)."""
    k = weight.shape[-1]
    out_h, out_w = x.shape[2] - k + 1, x.shape[3] - k + 1
    y = torch.empty(x.shape[0], weight.shape[0], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            y[:, :, i, j] = torch.einsum("scnm,dcnm->sd", x[:, :, i:i + k, j:j + k], weight)
    return y + bias.view(1, -1, 1, 1)


images = torch.from_numpy(x_test[:16])
conv = nn.Conv2d(3, 8, 5)
with torch.no_grad():
    reference = conv(images)
    print(f"input {tuple(images.shape)} -> output {tuple(reference.shape)}")
    scratch = (reference - conv2d_from_scratch(images, conv.weight, conv.bias)).abs().mean().item()
    print(f"mean |nn.Conv2d - equation 4 from scratch|: {scratch:.2e}")
    for algorithm in torch_nn.CONV_ALGORITHMS:
        my_conv = torch_nn.Conv2d(3, 8, 5, algorithm=algorithm)
        before = (reference - my_conv(images)).abs().mean().item()
        my_conv.load_state_dict(conv.state_dict())
        after = (reference - my_conv(images)).abs().mean().item()
        print(f"own Conv2d ({algorithm:6s}): mean |difference| {before:.4f} before copying, {after:.2e} after")

# %% [markdown]
# ### Task 3.2 — the same network from our own layers
#
# `build_model("lenet", "torch-own")` builds the identical architecture with `cnnlab.torch_nn.Linear` and
# `cnnlab.torch_nn.Conv2d` (pooling and ReLU stay PyTorch's). Its `state_dict` has the same keys and shapes, so
# the trained weights load directly. Both networks must then make the same predictions.

# %%
from cnnlab.training import predict

model.eval()
twins = {}
for algorithm in torch_nn.CONV_ALGORITHMS:
    twin = build_model("lenet", "torch-own", conv_algorithm=algorithm)
    twin.load_state_dict(model.state_dict())
    twins[algorithm] = twin.eval()
print(twins["im2col"])

few = slice(0, 20)
default_logits = predict(model, x_test[few])
print(f"20 test images: default accuracy {(default_logits.argmax(1) == y_test[few]).mean():.0%}")
for algorithm, twin in twins.items():
    logits = predict(twin, x_test[few])
    print(f"  own ({algorithm:6s}): accuracy {(logits.argmax(1) == y_test[few]).mean():.0%}, "
          f"max |logit difference| {np.abs(logits - default_logits).max():.1e}, "
          f"same predictions: {bool((logits.argmax(1) == default_logits.argmax(1)).all())}")

# %% [markdown]
# **The whole comparison in one call.** The compare experiment (`cnnlab.experiments.compare`, also `cnnlab compare`
# on the command line) takes the trained network from its folder (`weights`, the command line's `--weights`),
# repeats tasks 2.1 and 3.1 on fresh layers, evaluates the library network and its twins on the first 20 and on all
# test images (the slow naive twin on the first 20 only), and times their forward passes per algorithm and batch
# size. The two networks are timed in turn, several rounds each, so both see the same machine load; the times are
# medians. PyTorch runs on one thread for this: on a small, busy machine its thread pool waits longer for a free
# core than it computes on such small batches. The ratio own / library says how many times slower our layers are.

# %%
from cnnlab.experiments import compare
from cnnlab.report.sections import compare as compare_section
from cnnlab.threads import torch_threads

settings = compare.CompareSettings(weights=trained.folder)
if QUICK:
    settings = settings.quick()  # the first 1000 test images, fewer timed repeats
with torch_threads(1):
    comparison = compare.run(settings, context)
print(render_text(compare_section.section(comparison, {})))

# %% [markdown]
# The naive layer loops in Python over every output position of every convolution (28·28 + 10·10 = 884 positions
# per batch), so it is many times slower than `nn.Conv2d`. The `im2col` layer turns each convolution into one
# matrix product, as optimised library kernels do, and its ratio stays near 1. As the seed says, the library
# implementation is the one to use: it is as fast or faster, and tested far more widely.
#
# ## 4. Feature maps (task 3.3)
#
# For 3 test images of different classes the feature-map experiment (`cnnlab.experiments.featuremaps`) collects
# the activations after every convolution and every pooling layer of the trained network, keeps the first 5
# channels, and scales each map to [0, 1] on its own. One figure per layer: a row per image (its input first, with
# the true class and the prediction), a column per channel.

# %%
from cnnlab.experiments import featuremaps
from cnnlab.plots import featuremaps as featuremaps_plots

feature_run = featuremaps.run(featuremaps.FeatureMapsSettings(weights=trained.folder, images=3, channels=5,
                                                              seed=SEED), context)
maps = feature_run.maps
for layer in maps.layers:
    print(f"{layer.name:6s} ({layer.kind}): output {layer.shape[1:]}, channels {layer.channels}, "
          f"{layer.zero_fraction.mean():.0%} of the pixels exactly 0 before normalisation")
figures = featuremaps_plots.figures(feature_run, OUT)
for layer in maps.layers:
    display(Image(figures[f"maps-{layer.name}"]))

# %% [markdown]
# And the 8 learned filters of the first convolution (5×5×3 each, shown as colour images, each scaled to
# [0, 1] on its own): they show which colours and orientations the first layer responds to.

# %%
display(Image(figures["filters"]))

# %% [markdown]
# **Reading the maps.** Each map is scaled on its own, so a bright spot means "the strongest response of this
# channel for this image", not a large value in absolute terms. The conv maps keep the shape of the object
# (edges and colour blobs); after pooling the maps are half the size and coarser. As the assignment warns, a channel
# that seems to light up on eyes or edges in 3 images is a hypothesis, not a finding: testing it needs many images
# and a measurement.
