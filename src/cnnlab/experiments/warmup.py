"""Assignment 004 task 4.1, the convolution warm-up, with the exercise's own example arrays: zero padding, one window's
dot product at a top-left index, the same for a batch, for many filters -- and then the whole layer, the assignment's
``run_simple_conv`` demo (``x`` of shape (10, 1, 5, 5) through ``Conv2d(1, 3, (3, 3))`` gives (10, 3, 3, 3)).

Every number comes from :mod:`cnnlab.numpy_nn.warmup` and is cross-checked against
``torch.nn.functional.conv2d``: the window whose top-left corner is ``(top, left)`` is output position
``(top, left)`` of a stride-1, unpadded convolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cnnlab import numpy_nn
from cnnlab.experiments.base import Context, Experiment
from cnnlab.numpy_nn import warmup
from cnnlab.options import Validated, option


def example_arrays(simple: bool) -> dict[str, np.ndarray]:
    """The exercise's arrays: ``x`` one image (2, 5, 5) = 0..49, ``x2`` a batch (2, 2, 5, 5) = 0..99, a filter
    ``f`` (2, 3, 3) = 0..17 and filters ``f2`` (3, 2, 3, 3) = 0..53; the *simple* variant (for pen and paper) has
    ``f`` = ones (2, 2, 2) and ``f2`` = ones (3, 2, 2, 2) scaled by 1, 2 and 3."""
    x = np.arange(50, dtype=np.float64).reshape(2, 5, 5)
    x2 = np.arange(100, dtype=np.float64).reshape(2, 2, 5, 5)
    if simple:
        f = np.ones((2, 2, 2))
        f2 = np.ones((3, 2, 2, 2)) * np.array([1.0, 2.0, 3.0])[:, None, None, None]
    else:
        f = np.arange(18, dtype=np.float64).reshape(2, 3, 3)
        f2 = np.arange(54, dtype=np.float64).reshape(3, 2, 3, 3)
    return {"x": x, "x2": x2, "f": f, "f2": f2}


@dataclass(frozen=True)
class WarmupSettings(Validated):
    """Where the window sits (its top-left corner) and how much padding the padding example adds."""

    index: tuple[int, int] = option((2, 1), "Top-left corner (row, column) of the window.", metavar="ROW,COL")
    padding: tuple[int, int] = option((2, 1), "Zero padding (rows, columns) of the padding example.",
                                      metavar="PH,PW")
    seed: int = option(0, "Seed of the random input and weights of the simple-conv demo.", minimum=0)

    def check(self) -> None:
        if len(self.index) != 2 or min(self.index) < 0:
            raise ValueError(f"--index needs two non-negative numbers (row, column), got {self.index}")
        if len(self.padding) != 2 or min(self.padding) < 0:
            raise ValueError(f"--padding needs two non-negative numbers (rows, columns), got {self.padding}")
        top, left = self.index
        if top + 3 > 5 or left + 3 > 5:
            raise ValueError(f"--index {self.index}: the 3x3 filters of the example must fit in the 5x5 images "
                             "(row and column at most 2)")


@dataclass(frozen=True)
class WindowProducts:
    """One example set's three products at the window: one image with one filter (a number), every image of the
    batch with one filter ``(N,)``, every image with every filter ``(N, F)``; and torch's values at that position."""

    name: str
    kernel: tuple[int, int]
    single: float
    batch: list[float]
    filters: list[list[float]]
    torch_single: float
    torch_batch: list[float]
    torch_filters: list[list[float]]

    @property
    def max_abs_diff(self) -> float:
        ours = np.array([self.single, *self.batch, *np.ravel(self.filters)])
        theirs = np.array([self.torch_single, *self.torch_batch, *np.ravel(self.torch_filters)])
        return float(np.max(np.abs(ours - theirs)))


@dataclass
class WarmupResult:
    """The padding example, the window products of both example sets (with the simple set's image ``(2, 5, 5)``
    and filter ``(2, kh, kw)`` for the figure), and the simple-conv demo's shapes."""

    index: tuple[int, int]
    padding: tuple[int, int]
    pad_input: np.ndarray
    padded: np.ndarray
    products: list[WindowProducts]
    simple_conv_input: tuple[int, ...]
    simple_conv_layer: str
    simple_conv_output: tuple[int, ...]
    simple_conv_max_abs_diff: float
    image: np.ndarray
    kernel: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"index": list(self.index), "padding": list(self.padding), "pad_input_shape": list(self.pad_input.shape),
                "padded_shape": list(self.padded.shape), "padded": self.padded.tolist(),
                "products": [{**vars(p), "max_abs_diff": p.max_abs_diff} for p in self.products],
                "simple_conv": {"input": list(self.simple_conv_input), "layer": self.simple_conv_layer,
                                "output": list(self.simple_conv_output),
                                "max_abs_diff_to_torch": self.simple_conv_max_abs_diff}}


def _torch_at(images: np.ndarray, filters: np.ndarray, index: tuple[int, int]) -> np.ndarray:
    """``conv2d(images, filters)[:, :, top, left]`` from torch (stride 1, no padding): ``(N, F)``."""
    out = torch.nn.functional.conv2d(torch.from_numpy(images), torch.from_numpy(filters))
    return out[:, :, index[0], index[1]].numpy()


def _products(name: str, arrays: dict[str, np.ndarray], index: tuple[int, int]) -> WindowProducts:
    top, left = index
    x, x2, f, f2 = arrays["x"], arrays["x2"], arrays["f"], arrays["f2"]
    return WindowProducts(
        name, (f.shape[1], f.shape[2]),
        warmup.window_dot(x, f, top, left),
        warmup.window_dot_batch(x2, f, top, left).tolist(),
        warmup.window_dot_filters(x2, f2, top, left).tolist(),
        float(_torch_at(x[None], f[None], index)[0, 0]),
        _torch_at(x2, f[None], index)[:, 0].tolist(),
        _torch_at(x2, f2, index).tolist(),
    )


def run(settings: WarmupSettings, context: Context) -> WarmupResult:
    """Pad the exercise's (1, 2, 3, 3) array, take every window product of both example sets, run the simple
    convolution demo, and check everything against torch."""
    pad_input = np.arange(18, dtype=np.float64).reshape(1, 2, 3, 3)
    padded = warmup.pad_images(pad_input, settings.padding)
    simple = example_arrays(True)
    products = [_products("simple (ones)", simple, settings.index),
                _products("full (0, 1, 2, ...)", example_arrays(False), settings.index)]
    numpy_nn.init.manual_seed(settings.seed)
    x = np.random.default_rng(settings.seed).standard_normal((10, 1, 5, 5)).astype(np.float32)
    layer = numpy_nn.Conv2d(1, 3, (3, 3))
    y = layer(x)
    reference = torch.nn.Conv2d(1, 3, (3, 3))
    reference.load_state_dict(numpy_nn.to_torch_state_dict(layer.state_dict()))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    return WarmupResult(settings.index, settings.padding, pad_input, padded, products, tuple(x.shape), repr(layer),
                        tuple(y.shape), float(np.max(np.abs(y - expected))), simple["x"], simple["f"])


EXPERIMENT = Experiment("warmup", "The convolution warm-up (assignment 004, task 4.1)",
                        "Assignment 004 task 4.1: zero padding, one window's dot product, for a batch, for many "
                        "filters, with the exercise's example arrays; then the simple-conv demo.", WarmupSettings, run)
