"""Assignment 004 task 3: the output size of a convolution (or pooling window), worked per dimension, and a table of
examples — the assignments' own layers, the padding/stride/dilation variants, a 'same' case and impossible cases.

    O = ⌊(I + 2P − D·(K − 1) − 1) / S⌋ + 1        (I input, K kernel, S stride, P padding per side, D dilation)

The sizes come from :func:`cnnlab.geometry.conv_output_size`, the one place the formula lives; this module only
lays the arithmetic out so it can be followed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cnnlab.experiments.base import Context, Experiment
from cnnlab.geometry import IntOrSeq, conv_output_size
from cnnlab.options import Validated, option

FORMULA = "O = ⌊(I + 2P − D·(K − 1) − 1) / S⌋ + 1"


@dataclass
class ConvCase:
    """One geometry and its output size per spatial dimension, or why there is none."""

    name: str
    input_size: list[int]
    kernel_size: list[int]
    stride: list[int]
    padding: list[int]
    dilation: list[int]
    #: Output size per dimension; ``None`` when the geometry is impossible or malformed (see ``error``).
    output_size: list[int] | None
    #: The formula with the numbers put in, per dimension (empty when impossible).
    worked: list[str] = field(default_factory=list)
    error: str | None = None
    note: str = ""

    @property
    def possible(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "possible": self.possible}


@dataclass
class ConvOutputResult:
    """The formula, the case asked for (if any) and the table of examples."""

    formula: str
    query: ConvCase | None
    examples: list[ConvCase]

    def to_dict(self) -> dict[str, Any]:
        return {"formula": self.formula, "query": self.query.to_dict() if self.query else None,
                "examples": [case.to_dict() for case in self.examples]}


def _as_list(value: IntOrSeq, ndim: int) -> list[Any]:
    """``value`` per dimension for display (an int is broadcast); anything malformed is shown as given."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value) * ndim if len(value) == 1 else list(value)
    return [value] * ndim


def _worked(i: int, k: int, s: int, p: int, d: int, o: int) -> str:
    numerator = i + 2 * p - d * (k - 1) - 1  # shown only to make the floor visible; O itself comes from shapes
    divided = f"⌊{numerator}/{s}⌋" if s > 1 else str(numerator)
    text = f"⌊({i} + 2·{p} − {d}·({k} − 1) − 1) / {s}⌋ + 1 = {divided} + 1 = {o}"
    if numerator % s:
        left = numerator % s
        text += f" (the last {left} pixel{'s' if left > 1 else ''} of the padded input fit{'' if left > 1 else 's'} " \
                "no window)"
    return text


def conv_output(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: IntOrSeq = 0,
                dilation: IntOrSeq = 1, *, name: str = "", note: str = "") -> ConvCase:
    """The output size of one geometry per dimension, with the worked formula.

    Arguments as :func:`cnnlab.geometry.conv_output_size` (an int, or one entry per dimension; ints are broadcast).
    An impossible or malformed geometry does not raise: the case comes back with ``output_size=None`` and
    ``error`` saying why (check ``case.possible``).
    """
    args = (input_size, kernel_size, stride, padding, dilation)
    lengths = {len(a) for a in args if isinstance(a, Sequence) and not isinstance(a, str)}
    ndim = max(lengths, default=1)
    i, k, s, p, d = (_as_list(a, ndim) for a in args)
    try:
        sizes = conv_output_size(input_size, kernel_size, stride, padding, dilation)
    except (ValueError, TypeError) as error:
        message = str(error).removeprefix("conv_output_size: ")
        return ConvCase(name, i, k, s, p, d, output_size=None, error=message, note=note)
    output = [sizes] if isinstance(sizes, int) else list(sizes)
    worked = [_worked(i[dim], k[dim], s[dim], p[dim], d[dim], output[dim]) for dim in range(len(output))]
    return ConvCase(name, i, k, s, p, d, output_size=output, worked=worked, note=note)


#: The table of examples: (name, input, kernel, stride, padding, dilation, note).
EXAMPLES: tuple[tuple[str, IntOrSeq, IntOrSeq, IntOrSeq, IntOrSeq, IntOrSeq, str], ...] = (
    ("the exercise's example (show_conv_output_dims)", (7, 7), 3, 1, 2, 1,
     "padding 2 > (K − 1)/2 = 1: the output grows"),
    ("MNIST CNN conv1 (assignment 004)", (28, 28), 4, 2, 1, 1, "halves the image"),
    ("MNIST CNN conv2 (assignment 004)", (14, 14), 4, 2, 1, 1, "7 x 7 x 10 = 490 features for the linear layer"),
    ("LeNet conv1 (assignment 000, CIFAR-10)", (32, 32), 5, 1, 0, 1, "no padding: loses K − 1 = 4 pixels"),
    ("LeNet pool1: 2 x 2 max-pool", (28, 28), 2, 2, 0, 1, "pooling windows follow the same formula"),
    ("LeNet conv2", (14, 14), 5, 1, 0, 1, ""),
    ("LeNet pool2: 2 x 2 max-pool", (10, 10), 2, 2, 0, 1, "16 x 5 x 5 = 400 features for fc1"),
    ("'same' padding, 3 x 3 kernel", (28, 28), 3, 1, 1, 1, "P = (K − 1) / 2 keeps the size at stride 1"),
    ("'same' padding, 5 x 5 kernel", (32, 32), 5, 1, 2, 1, ""),
    ("stride that does not divide", (28, 28), 3, 2, 0, 1, "the floor drops the incomplete last window"),
    ("overlapping pooling, 3 x 3 stride 2", (55, 55), 3, 2, 0, 1, "AlexNet-style pooling"),
    ("dilation 2", (28, 28), 3, 1, 0, 2, "a dilated 3 x 3 kernel spans 5 x 5"),
    ("dilation 2, 'same' padding", (28, 28), 3, 1, 2, 2, "P = D·(K − 1) / 2"),
    ("rectangular input, per-dimension settings", (28, 32), (3, 5), (1, 2), (1, 2), 1, "each dimension on its own"),
    ("1 x 1 convolution", (28, 28), 1, 1, 0, 1, "mixes channels only"),
    ("kernel as large as the input", (7, 7), 7, 1, 0, 1, "one output: a fully connected layer in disguise"),
    ("impossible: kernel larger than the input", (4, 4), 5, 1, 0, 1, "padding 1 or more would make it fit"),
    ("impossible: dilated kernel too large", (5, 5), 3, 1, 0, 3, "dilation 3 makes the 3-tap kernel span 7"),
)


def example_table() -> list[ConvCase]:
    """The assignment's table of examples (see :data:`EXAMPLES`), each worked out."""
    return [conv_output(i, k, s, p, d, name=name, note=note) for name, i, k, s, p, d, note in EXAMPLES]


@dataclass(frozen=True)
class ConvOutputSettings(Validated):
    """The geometry to work out (input and kernel both, or neither for the table of examples alone).

    Each value is one entry per spatial dimension, or a single entry for all of them.
    """

    input: tuple[int, ...] | None = option(None, "Input size per dimension, e.g. 28 or 32,20.", metavar="I[,I]")
    kernel: tuple[int, ...] | None = option(None, "Kernel size per dimension, e.g. 5 or 3,5.", metavar="K[,K]")
    stride: tuple[int, ...] = option((1,), "Stride per dimension.", metavar="S[,S]")
    padding: tuple[int, ...] = option((0,), "Zero padding per side, per dimension.", metavar="P[,P]")
    dilation: tuple[int, ...] = option((1,), "Dilation per dimension.", metavar="D[,D]")

    def check(self) -> None:
        if (self.input is None) != (self.kernel is None):
            raise ValueError("give both --input and --kernel (or neither, for the table of examples)")
        given = {"input": self.input, "kernel": self.kernel, "stride": self.stride,
                 "padding": self.padding, "dilation": self.dilation}
        for name, values in given.items():
            if values is None:
                continue
            low = 0 if name == "padding" else 1
            if not values or any(v < low for v in values):
                bound = "non-negative" if low == 0 else "positive"
                raise ValueError(f"--{name} must be {bound} in every dimension, got {values}")
        lengths = {len(v) for v in given.values() if v is not None} - {1}
        if len(lengths) > 1:
            raise ValueError(f"the per-dimension values disagree on the number of dimensions: {given}")


def _scalar_or_tuple(values: tuple[int, ...]) -> IntOrSeq:
    return values[0] if len(values) == 1 else values


def run(settings: ConvOutputSettings, context: Context) -> ConvOutputResult:
    """The table of examples, plus the geometry asked for when ``input`` and ``kernel`` are given.

    An impossible query is not an exception: ``result.query.possible`` is ``False`` and ``result.query.error``
    says why.
    """
    query = None
    if settings.input is not None and settings.kernel is not None:
        query = conv_output(*(_scalar_or_tuple(v) for v in (settings.input, settings.kernel,
                                                              settings.stride, settings.padding, settings.dilation)),
                            name="your geometry")
    return ConvOutputResult(FORMULA, query, example_table())


EXPERIMENT = Experiment("conv-output", "Convolution output size (assignment 004, task 3)",
                        "Output size of a convolution, O = floor((I + 2P - D(K-1) - 1)/S) + 1, worked, and a table "
                        "of examples.", ConvOutputSettings, run)
