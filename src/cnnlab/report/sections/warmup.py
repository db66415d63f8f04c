"""Report section of the convolution warm-up (assignment 004 task 4.1): each step with the exercise's arrays and
values."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.warmup import WarmupResult

#: The exercise's functions (``lib/convolution_warmup.py``) and where each step lives in cnnlab.
STEPS = (
    ("zero padding", "pad_array", "cnnlab.numpy_nn.warmup.pad_images"),
    ("one image, one filter, one window", "dot_product_single_filter", "cnnlab.numpy_nn.warmup.window_dot"),
    ("a batch of images, one filter", "dot_product_single_filter_with_batches",
     "cnnlab.numpy_nn.warmup.window_dot_batch"),
    ("a batch of images, many filters", "dot_product_multiple_filters_with_batches",
     "cnnlab.numpy_nn.warmup.window_dot_filters"),
    ("every window: the layer", "Conv2D (run_simple_conv.py)", "cnnlab.numpy_nn.Conv2d"),
)


def section(result: WarmupResult, figures: dict[str, Path]) -> Section:
    """The steps and their names, the padding example, the window products, the simple-conv demo."""
    top, left = result.index
    ph, pw = result.padding
    padded = result.padded[0, 0]
    padded_rows = "\n".join(" ".join(f"{v:g}" for v in row) for row in padded)
    products = [[p.name, f"{p.kernel[0]} x {p.kernel[1]}", p.single, ", ".join(f"{v:g}" for v in p.batch),
                 "; ".join(", ".join(f"{v:g}" for v in row) for row in p.filters), p.max_abs_diff]
                for p in result.products]
    return Section(
        intro=("Before the convolution layer, the exercise builds it from one dot product: a filter laid over the "
               f"window of an image whose top-left corner is (row, column) = ({top}, {left}), summed over channels "
               "and window. Doing that for every image of a batch and every filter gives one output position of "
               "every output channel; doing it for every position gives the layer. The arrays are the exercise's: "
               "x = 0..49 as (2, 5, 5), a batch x2 = 0..99 as (2, 2, 5, 5), and filters of ones (the simple, "
               "pen-and-paper case) or 0, 1, 2, ... (the full case)."),
        paragraphs=[
            f"Padding: the (1, 2, 3, 3) array 0..17 padded by {ph} rows and {pw} columns of zeros becomes "
            f"{tuple(result.padded.shape)}; its first channel:\n{padded_rows}",
            f"The whole layer (the assignment's run_simple_conv): x of shape {result.simple_conv_input} through "
            f"{result.simple_conv_layer} gives {result.simple_conv_output}; torch.nn.Conv2d with the same weights "
            f"agrees to {result.simple_conv_max_abs_diff:.1e}.",
        ],
        tables=[
            Table(["step", "the exercise's function", "in cnnlab"], [list(s) for s in STEPS],
                  caption="The warm-up's steps"),
            Table(["example", "filter", "one image, one filter", "batch, one filter", "batch, every filter",
                   "max |Δ| to torch"], products,
                  caption=f"Dot products at the window with top-left corner ({top}, {left}); torch's value is "
                          f"conv2d(x, f)[:, :, {top}, {left}]"),
        ],
        figures=[Figure(path, "The window (red) on both channels of x and the filter it is multiplied with; the sum "
                              "of the products is the single number of step 2.") for path in figures.values()],
        settings={"index": list(result.index), "padding": list(result.padding)},
    )
