"""Source of notebooks/seed004_mnist_conv.ipynb (assignment 004: convolutions from scratch, MNIST, equivariance).

Percent format: ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell (its lines start with ``# ``).
Edit this file, then run ``python notebooks/build_notebooks.py`` to rewrite the notebook.
"""

# %% [markdown]
# # Assignment 004 — Convolutions from scratch on MNIST, told with cnnlab
#
# 1. **Pen and paper**: a 1-D cross-correlation, forward, loss, backward, one SGD step, forward again.
# 2. **Image dataset**: MNIST as images `(N, 1, 28, 28)`.
# 3. **Output size** of a convolution: the formula and a table of examples.
# 4. **Own convolution layer**: the warm-up from one window's scalar product to all windows of all images with all
#    filters, then the NumPy engine's `Conv2d` with stride and padding, checked against PyTorch and by finite
#    differences.
# 5. **Experiments**: the assignment's CNN trained with the NumPy engine (hand-written backward), with the assignment's
#    settings and with a better recipe.
# 6. **Equivariance**: the MLP and the CNN on shifted validation images, and the assignment's three questions answered
#    with the measured numbers.
#
# Everything runs on `cnnlab.numpy_nn`, the NumPy engine whose forward and backward passes are written by hand;
# PyTorch serves only as the reference each step is checked against.
#
# The tasks with a result of their own run as cnnlab's experiments do: each takes its settings and a `Context`
# (where the data are, where results go, the datasets and trained networks the experiments share) and returns a
# result, from which `cnnlab.plots` draws the figures and `cnnlab.report.sections` builds the tables printed here
# (the same ones `cnnlab run` puts into its report).
#
# **Settings.** With `CNNLAB_NOTEBOOK_QUICK=1` the notebook runs a smoke test (the recipes' quick settings: 2 epochs
# on at most 3,000 training images; the shift experiment on 2,000 validation images); otherwise the assignment's
# settings (10 epochs on 10,000 training images). Data come from `$CNNLAB_DATA` (`cnnlab data download mnist` fetches
# them), figures and trained networks go to a temporary folder (or `$CNNLAB_NOTEBOOK_OUT`).

# %%
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Image, display

from cnnlab.experiments.base import Context
from cnnlab.report import Section, render_text, text_table

QUICK = os.environ.get("CNNLAB_NOTEBOOK_QUICK") == "1"
DATA_ROOT = os.environ.get("CNNLAB_DATA")  # None: cnnlab's default root ./data
OUT = Path(os.environ.get("CNNLAB_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="cnnlab-seed004-"))
OUT.mkdir(parents=True, exist_ok=True)

SEED = 0
# Progress bars stay off (the runs take seconds to a minute); without ipywidgets tqdm would warn about them.
warnings.filterwarnings("ignore", message="IProgress not found")
# One context for the whole notebook: it reads each dataset once, trains networks into OUT / <recipe> and hands
# them to the experiments that need them (quick: the recipes' quick settings).
context = Context(OUT, data_root=Path(DATA_ROOT) if DATA_ROOT else None, quick=QUICK, seed=SEED)
print(f"quick={QUICK}, data root={DATA_ROOT or './data'}, figures in {OUT}")

# %% [markdown]
# ## 1. Pen and paper: a 1-D cross-correlation
#
# x = [1, 2, 3, 4], w = [2, 1, 3], b = 1, stride 1, no padding, target y = [2, 4], L = ½‖y − ŷ‖², learning rate
# 0.01. Cross-correlation slides the kernel over the input without flipping it: ŷᵢ = Σₖ wₖ·x₍ᵢ₊ₖ₋₁₎ + b.
# The experiment `cnnlab.experiments.xcorr1d` (the assignment's numbers are its default settings) computes every step
# from its formula and checks all of them against PyTorch's `conv1d` and autograd.

# %%
from cnnlab.experiments import xcorr1d
from cnnlab.plots import xcorr as xcorr_plots
from cnnlab.report.sections import xcorr1d as xcorr1d_section

worked = xcorr1d.run(xcorr1d.Xcorr1dSettings(), context)
print(render_text(xcorr1d_section.section(worked, {})))
display(Image(xcorr_plots.figures(worked, OUT)["windows"]))

# %% [markdown]
# The gradient of the loss with respect to each weight is the correlation of the input with the output error
# (ŷ − y), and the gradient of the bias is the sum of the errors. One SGD step lowers the loss; the numbers above
# show by how much.
#
# ## 2. The image dataset
#
# With convolutions the images stay images: `context.dataset("mnist", split)` gives uint8 arrays `(N, 1, 28, 28)`
# — one grey channel. The assignment's split: the first 50,000 training images for training, the last 10,000 for
# validation, the 10,000 `t10k` images for testing. The dataset-overview experiment summarises the splits.

# %%
from cnnlab import data
from cnnlab.experiments import dataset_overview
from cnnlab.plots import dataset_overview as overview_plots
from cnnlab.report.sections import dataset_overview as overview_section

overview = dataset_overview.run(dataset_overview.DatasetOverviewSettings("mnist", samples=16), context)
print(render_text(overview_section.section(overview, {})))
mnist = {split: context.dataset("mnist", split) for split in data.SPLITS}  # the same arrays, read once
for name, ds in mnist.items():
    print(f"{name:5s}: images {ds.images.dtype} {ds.images.shape}, labels {ds.labels.shape}")
display(Image(overview_plots.figures(overview, OUT)["samples"]))

# %% [markdown]
# ## 3. The output size of a convolution
#
# Per spatial dimension, with input size I, kernel size K, stride S, padding P on each side and dilation D
# (1 for an ordinary kernel): **O = ⌊(I + 2P − D·(K − 1) − 1) / S⌋ + 1**. With D = 1 this is the assignment's
# ⌊(I − K + 2P) / S⌋ + 1. `cnnlab.geometry.conv_output_size` is the one place the formula lives; every layer of both
# engines calls it. The conv-output experiment (`cnnlab conv-output` on the command line) works a geometry of
# your choice through the formula (here the rectangular one) and adds a table of examples: the assignments' layers,
# padding, stride, dilation, 'same' and impossible cases, each with its arithmetic.

# %%
from cnnlab.experiments import conv_output
from cnnlab.geometry import conv_output_size

print("MNIST CNN conv1:", conv_output_size(28, 4, stride=2, padding=1))
print("rectangular input, per-dimension settings:", conv_output_size((28, 32), (3, 5), stride=(1, 2), padding=1))

table = conv_output.run(conv_output.ConvOutputSettings(input=(28, 32), kernel=(3, 5), stride=(1, 2), padding=(1,)),
                        context)
print(f"\n{table.formula}\n")


def dims(values: list[int]) -> str:
    """One value when every dimension has it, else all of them (e.g. 28x32)."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


for case in [table.query, *table.examples]:
    size = "x".join(map(str, case.output_size)) if case.possible else "impossible"
    print(f"{case.name:45s} I={dims(case.input_size):6s} K={dims(case.kernel_size):4s} S={dims(case.stride):4s} "
          f"P={dims(case.padding):4s} D={dims(case.dilation)}  ->  O={size}")
    for line in (dict.fromkeys(case.worked) if case.possible else [case.error]):
        print(f"{'':47s}{line}")

# %% [markdown]
# ## 4. The convolution layer
#
# ### 4.1 Warm-up: from one scalar product to a whole convolution
#
# A convolution output value is the scalar product of one filter with one window of the (padded) image. The
# building blocks in `cnnlab.numpy_nn.warmup`, each one checked against `torch.nn.functional.conv2d` at the same
# output position `(i, j)` (window top-left corner `(i·S, j·S)` in the padded image):
#
# 1. `pad_images`: zero padding of a batch `(N, C, H, W)`;
# 2. `window_dot`: one image, one filter, one window → a number;
# 3. `window_dot_batch`: all images at once → `(N,)`;
# 4. `window_dot_filters`: all images and all filters → `(N, F)`, the whole output column `y[:, :, i, j]`.

# %%
from cnnlab.numpy_nn import warmup

rng = np.random.default_rng(SEED)
images = data.to_float(mnist["train"].images[:8])               # (8, 1, 28, 28) in [0, 1]
filters = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)  # (F, C, kh, kw)
stride, padding, (i, j) = 2, 1, (6, 9)
reference = F.conv2d(torch.from_numpy(images), torch.from_numpy(filters), stride=stride, padding=padding).numpy()
padded = warmup.pad_images(images, padding)
top, left = i * stride, j * stride
print("padded:", images.shape, "->", padded.shape)
print("1 image, 1 filter:  ", f"{warmup.window_dot(padded[0], filters[0], top, left):.5f}",
      f"(torch {reference[0, 0, i, j]:.5f})")
print("all images, 1 filter: max |difference|",
      np.abs(warmup.window_dot_batch(padded, filters[0], top, left) - reference[:, 0, i, j]).max())
print("all images, all filters: max |difference|",
      np.abs(warmup.window_dot_filters(padded, filters, top, left) - reference[:, :, i, j]).max())

# %% [markdown]
# Looping step 4 over all output positions gives the whole convolution: two loops, everything else broadcast —
# within the assignment's limit of two nested loops.

# %%
out_h, out_w = conv_output_size((28, 28), 4, stride=stride, padding=padding)
ours = np.empty((len(images), len(filters), out_h, out_w), dtype=np.float32)
for i in range(out_h):
    for j in range(out_w):
        ours[:, :, i, j] = warmup.window_dot_filters(padded, filters, i * stride, j * stride)
print(f"whole convolution {ours.shape}: max |ours - torch| = {np.abs(ours - reference).max():.1e}")

# %% [markdown]
# ### 4.2 The `Conv2d` layer with stride and padding
#
# `cnnlab.numpy_nn.Conv2d` takes `nn.Conv2d`'s arguments and offers four algorithms for the same equation
# (`numpy_nn.CONV_ALGORITHMS`):
#
# - `naive`: the seven nested loops of the equation (image, output channel, output row and column, input channel,
#   kernel row and column), the reference;
# - `loops2`: the two loops above, broadcasting over images, channels and filters;
# - `im2col`: the textbook algorithm, every window copied into a column of a matrix, then one matrix product;
# - `fast` (the default): the same matrix products, on chunks of images small enough to stay in the CPU cache.
#
# The im2col idea with the engine's kernels (`cnnlab.numpy_nn.kernels`): `im2col` turns the padded images into
# columns `(N, C·kh·kw, H_out·W_out)`, one per output position, and the filters `(F, C, kh, kw)` flattened to
# `(F, C·kh·kw)` times the columns is the convolution.

# %%
from cnnlab import numpy_nn
from cnnlab.numpy_nn import kernels

cols = kernels.im2col(padded, (4, 4), (stride, stride))  # padded images from the warm-up, 4x4 windows, stride 2
by_matmul = filters.reshape(len(filters), -1) @ cols     # (5, 16) @ (8, 16, 196) -> (8, 5, 196)
print(f"columns {cols.shape}, filters as rows {filters.reshape(len(filters), -1).shape}: "
      f"max |W @ cols - torch| = {np.abs(by_matmul.reshape(reference.shape) - reference).max():.1e}")

# %% [markdown]
# Each `Conv2d` algorithm has its backward pass written by hand. We check each one against `torch.nn.Conv2d` with
# the same weights: the forward output and the three gradients (input, weight, bias) for the same upstream
# gradient.

# %%
from cnnlab.timing import measure

torch_conv = torch.nn.Conv2d(1, 5, 4, stride=2, padding=1)
x_t = torch.from_numpy(images).requires_grad_(True)
y_t = torch_conv(x_t)
upstream = rng.standard_normal(y_t.shape).astype(np.float32)
y_t.backward(torch.from_numpy(upstream))
torch_grads = {"dx": x_t.grad.numpy(), "dW": torch_conv.weight.grad.numpy(), "db": torch_conv.bias.grad.numpy()}

convs = {}
print(f"{'algorithm':10s} {'max |Δy|':>9s} {'max |Δdx|':>9s} {'max |ΔdW|':>9s} {'max |Δdb|':>9s}")
for algorithm in numpy_nn.CONV_ALGORITHMS:
    conv = convs[algorithm] = numpy_nn.Conv2d(1, 5, 4, stride=2, padding=1, algorithm=algorithm)
    conv.load_state_dict(torch_conv.state_dict())
    y = conv(images)
    dx = conv.backward(upstream)
    diffs = [np.abs(y - y_t.detach().numpy()).max(), np.abs(dx - torch_grads["dx"]).max(),
             np.abs(conv.weight.grad - torch_grads["dW"]).max(), np.abs(conv.bias.grad - torch_grads["db"]).max()]
    print(f"{algorithm:10s} " + " ".join(f"{d:9.1e}" for d in diffs))

# %% [markdown]
# The differences are float32 rounding (the sums run in a different order). Next, the forward time of each
# algorithm against PyTorch's for a batch of 50 images: the fastest of several calls, with one thread on both
# sides (`cnnlab.threads`: one BLAS thread for NumPy's matrix products, one torch thread), so the ratio compares
# the algorithms rather than thread scheduling on a shared CPU.

# %%
from cnnlab.threads import blas_threads, thread_summary, torch_threads

batch = data.to_float(mnist["train"].images[:50])
with blas_threads(1), torch_threads(1):
    print(thread_summary())
    with torch.inference_mode():
        torch_time = measure(lambda: torch_conv(torch.from_numpy(batch)), repeats=25).min_s
    print(f"forward pass of {len(batch)} images: torch.nn.Conv2d {1000 * torch_time:.2f} ms")
    for algorithm, conv in convs.items():
        seconds = measure(lambda conv=conv: conv(batch), warmup=1, repeats=3 if algorithm == "naive" else 25).min_s
        print(f"  {algorithm:6s} {1000 * seconds:9.2f} ms = {seconds / torch_time:6.1f} x torch")

# %% [markdown]
# The naive loops pay Python's overhead for every single multiplication; `loops2` only for every output position;
# `im2col` does the same arithmetic as matrix products, and `fast` arranges those products so that their operands
# are still in the CPU cache, which brings it within a small factor of PyTorch.
#
# A **gradient check** tests the hand-written backward on its own, without PyTorch: in float64, every analytic
# gradient is compared with the central difference (f(v + ε) − f(v − ε)) / 2ε for every input element and every
# parameter. Here on a small layer with stride 2 and padding 1, for each algorithm; `gradcheck` raises, naming the
# worst element, if any gradient is wrong.

# %%
x_small = rng.standard_normal((2, 2, 7, 6))
for algorithm in numpy_nn.CONV_ALGORITHMS:
    layer = numpy_nn.Conv2d(2, 3, 3, stride=2, padding=1, algorithm=algorithm)
    numpy_nn.gradcheck(layer, x_small)  # raises GradcheckError on any wrong gradient
    print(f"gradcheck {algorithm:6s}: passed for all {x_small.size} input elements and "
          f"{layer.weight.size + layer.bias.size} parameters")

# %% [markdown]
# ## 5. Experiments: training the CNN with the NumPy engine
#
# The assignment's network: conv 1→5 (kernel 4, stride 2, padding 1) → 5×14×14, ReLU, conv 5→10 (same) → 10×7×7, ReLU,
# flatten, linear 490→10. The assignment's settings (recipe `mnist-seed`): SGD with learning rate 0.01 and momentum 0.9,
# batch 50, 10 epochs, the first 10,000 training images, pixels in [0, 1]; the assignment expects about 96% validation
# accuracy after the tenth epoch. The better recipe (`mnist-better`): the same network and data, standardised
# inputs and a one-cycle learning-rate schedule peaking at 0.05. The training experiment trains both through the
# context, which keeps them (in `OUT / <recipe>`) for the experiments that come after.

# %%
from cnnlab.experiments import train
from cnnlab.models import build_model, count_parameters
from cnnlab.plots.curves import plot_histories
from cnnlab.report.sections import train as train_section

print(build_model("mnist-cnn", "numpy"))
print(f"{count_parameters(build_model('mnist-cnn', 'numpy')):,} parameters\n")

training = train.run(train.TrainingSettings(("mnist-seed", "mnist-better")), context)
print(render_text(train_section.section(training, {})))
curves = plot_histories({name: r.history for name, r in training.runs.items()}, OUT / "mnist-curves.png",
                        title="MNIST CNN, NumPy engine")
display(Image(curves))

# %% [markdown]
# ## 6. Equivariance
#
# A convolution is translation *equivariant*: shifting the input shifts its feature maps by the same amount
# (divided by the stride). An MLP has no such structure: every pixel has its own weights. The assignment's experiment:
# evaluate the MLP and the CNN on the validation set as it is and shifted 2 px right and 2 px down. The
# equivariance experiment (`cnnlab.experiments.equivariance`) does that and more: accuracy against shifts of 0 to
# 6 px, an MLP trained with random shifts (augmentation, recipe `mlp-shift`) as a third model, and a direct
# per-layer measurement of ‖f(shift(x)) − shift(f(x))‖ / ‖f(x)‖ with the border separated (the "interior" crop).
# The CNN is the one trained with the assignment's settings above, which the context hands over; the MLPs are trained
# here with the same settings (recipes `mlp-seed` and `mlp-shift`).

# %%
from cnnlab.experiments import equivariance
from cnnlab.plots import equivariance as equivariance_plots
from cnnlab.report.sections import equivariance as equivariance_section

settings = equivariance.EquivarianceSettings()
if QUICK:
    settings = settings.quick()  # fewer validation and probe images
result = equivariance.run(settings, context)
print(f"validation images: {result.n_val}, shift {settings.shift[0]} px right and {settings.shift[1]} px down; "
      f"the CNN trained above: {result.trained['cnn']}")
figures = equivariance_plots.figures(result, OUT)
section = equivariance_section.section(result, figures)
accuracy_table, curves_table, *layer_tables = section.tables
print(text_table(accuracy_table.columns, accuracy_table.rows))
print()
print(text_table(curves_table.columns, curves_table.rows))
display(Image(figures["samples"]))  # the assignment's picture: validation digits above their shifted copies
display(Image(figures["curves"]))

# %% [markdown]
# **Per layer.** How far is each layer's output on the shifted image from the shifted output on the original
# image? Full map (with the border) and interior (positions whose receptive field lies inside the image and away
# from the vacated pixels).

# %%
for table in layer_tables:  # the layers with feature maps, then those without (fully connected, logits)
    print(render_text(Section(tables=[table])) + "\n")
display(Image(figures["layers"]))
display(Image(figures["example"]))

# %% [markdown]
# ### The assignment's three questions, answered from the numbers above

# %%
if QUICK:
    print("Quick mode: the networks saw at most 3,000 images for two epochs, so these numbers only show that every "
          "step runs; run without CNNLAB_NOTEBOOK_QUICK for the real answers.\n")
print(render_text(Section(qa=section.qa)))
