"""Convolution geometry: the output-size formula, argument normalisation and shared input validation.

Every layer of both engines computes its geometry here, so the formula lives in one place:

    O = floor((I + 2P - D*(K-1) - 1) / S) + 1        per spatial dimension, P = padding per side

(pooling's ``ceil_mode`` rounds up instead, see :func:`conv_output_size`). The geometry is N-dimensional:
:class:`ConvSpec` holds the arguments of a convolution with any number of spatial dimensions, and
:class:`Conv1dSpec` / :class:`Conv2dSpec` only fix that number (as Equinox's ``Conv1d`` / ``Conv2d`` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import ClassVar, TypeVar, overload

IntOrSeq = int | Sequence[int]
Pair = tuple[int, int]
#: Padding of one spatial dimension as (before, after).
Sides = tuple[int, int]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("valid", "same")


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _as_tuple(value: IntOrSeq, name: str) -> tuple[int, ...]:
    if _is_int(value):
        return (int(value),)  # type: ignore[arg-type]
    if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):  # a 1-D NumPy array (or tensor) of sizes
        value = value.tolist()
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0 and all(map(_is_int, value)):
        return tuple(int(v) for v in value)
    raise TypeError(f"{name} must be an int or a non-empty sequence of ints, got {value!r}")


@overload
def conv_output_size(input_size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, *, ceil_mode: bool = False) -> int: ...


@overload
def conv_output_size(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: IntOrSeq = 0,
                     dilation: IntOrSeq = 1, *, ceil_mode: bool = False) -> int | tuple[int, ...]: ...


def conv_output_size(
    input_size: IntOrSeq,
    kernel_size: IntOrSeq,
    stride: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    dilation: IntOrSeq = 1,
    *,
    ceil_mode: bool = False,
) -> int | tuple[int, ...]:
    """Output size of a convolution or pooling window along each spatial dimension.

    ``O = floor((I + 2P - D*(K-1) - 1) / S) + 1`` with ``P`` the zero padding on *each* side.
    Each argument is an int or a sequence with one entry per dimension; ints are broadcast.
    Returns a Python int when every argument is an int, else a tuple of ints.

    ``ceil_mode=True`` (pooling, as torch): ``ceil`` instead of ``floor``, so a last, partial window is kept --
    unless it would start beyond the input and its left padding (``(O - 1) * S >= I + P``), then it is dropped.

    >>> conv_output_size(28, 4, stride=2, padding=1)
    14
    >>> conv_output_size((32, 20), 5, padding=(2, 0))
    (32, 16)

    Raises ``ValueError`` naming the dimension when the geometry is impossible (non-positive size, kernel,
    stride or dilation, negative padding, or a dilated kernel larger than the padded input).
    """
    args = {"input_size": input_size, "kernel_size": kernel_size, "stride": stride, "padding": padding,
            "dilation": dilation}
    tuples = {name: _as_tuple(value, name) for name, value in args.items()}
    lengths = {len(t) for t in tuples.values()} - {1}
    if len(lengths) > 1:
        given = ", ".join(f"{name}={args[name]!r}" for name, t in tuples.items() if len(t) > 1)
        raise ValueError(f"conv_output_size: per-dimension arguments disagree on the number of dimensions: {given}")
    ndim = lengths.pop() if lengths else 1
    full = {name: t * ndim if len(t) == 1 else t for name, t in tuples.items()}
    sizes = []
    for dim in range(ndim):
        i, k, s, p, d = (full[name][dim] for name in args)
        where = f"dimension {dim}" if ndim > 1 else "the input"
        for name, value, low in (("input_size", i, 1), ("kernel_size", k, 1), ("stride", s, 1), ("dilation", d, 1),
                                 ("padding", p, 0)):
            if value < low:
                bound = "positive" if low == 1 else "non-negative"
                raise ValueError(f"conv_output_size: {name} must be {bound}, got {value} in {where}")
        effective_kernel = d * (k - 1) + 1
        if effective_kernel > i + 2 * p:
            raise ValueError(
                f"conv_output_size: in {where} the kernel covers {effective_kernel} pixels (dilation {d} x (kernel "
                f"{k} - 1) + 1) but the padded input has only {i + 2 * p} (input {i} + 2 x padding {p})"
            )
        size = (i + 2 * p - effective_kernel + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (size - 1) * s >= i + p:
            size -= 1
        sizes.append(size)
    if all(len(t) == 1 and _is_int(args[name]) for name, t in tuples.items()):
        return sizes[0]
    return tuple(sizes)


def calculate_conv_output(input_shape: Sequence[int], kernel_size: Sequence[int], stride: Sequence[int],
                          padding: Sequence[int]) -> list[int]:
    """The exercise's name and signature (assignment 004 task 3, ``lib/convolutions.py``): one entry per dimension in
    every argument, a list back. An alias of :func:`conv_output_size` (which also takes dilation and ints).

    >>> calculate_conv_output([7, 7], [3, 3], [1, 1], [2, 2])
    [9, 9]
    """
    lengths = {len(_as_tuple(v, name)) for v, name in ((input_shape, "input_shape"), (kernel_size, "kernel_size"),
                                                       (stride, "stride"), (padding, "padding"))}
    if len(lengths) != 1:
        raise ValueError(f"calculate_conv_output: every argument needs one entry per dimension, got input_shape="
                         f"{input_shape!r}, kernel_size={kernel_size!r}, stride={stride!r}, padding={padding!r}")
    sizes = conv_output_size(tuple(_as_tuple(input_shape, "input_shape")), kernel_size, stride, padding)
    return [sizes] if isinstance(sizes, int) else list(sizes)


_COUNT_WORDS = {1: "an int or a sequence of one int", 2: "an int or a pair of ints", 3: "an int or a triple of ints"}


def to_tuple(value: IntOrSeq, name: str, ndim: int, minimum: int = 1) -> tuple[int, ...]:
    """Normalise an int-or-tuple argument of an ``ndim``-dimensional layer like torch: ``3 -> (3,) * ndim``;
    checks the length and each entry >= ``minimum``."""
    t = _as_tuple(value, name)
    if len(t) == 1:
        t = t * ndim
    if len(t) != ndim:
        raise ValueError(f"{name} must be {_COUNT_WORDS.get(ndim, f'an int or {ndim} ints')}, got {value!r}")
    if min(t) < minimum:
        bound = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return t


def to_pair(value: IntOrSeq, name: str, minimum: int = 1) -> Pair:
    """Normalise an int-or-pair argument like torch does: ``3 -> (3, 3)``; checks each entry >= ``minimum``."""
    return to_tuple(value, name, 2, minimum)  # type: ignore[return-value]


def resolve_padding(padding: str | IntOrSeq, kernel_size: tuple[int, ...], dilation: tuple[int, ...],
                    stride: tuple[int, ...]) -> tuple[Sides, ...]:
    """Padding per side of every spatial dimension, e.g. ``((top, bottom), (left, right))`` in 2-D.

    ``'valid'`` means none; ``'same'`` keeps the input size (stride 1 only) and, like torch, puts the odd pixel of
    an even total padding at the end (bottom/right).
    """
    ndim = len(kernel_size)
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {set(PADDING_STRINGS)}")
        if padding == "valid":
            return ((0, 0),) * ndim
        if any(s != 1 for s in stride):
            raise ValueError(f"padding='same' is not supported for strided convolutions (stride={stride})")
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in to_tuple(padding, "padding", ndim, minimum=0))


SpecT = TypeVar("SpecT", bound="ConvSpec")


@dataclass(frozen=True)
class ConvSpec:
    """Validated, normalised arguments of a convolution with :attr:`ndim` spatial dimensions (every tuple has one
    entry per spatial dimension); :class:`Conv1dSpec` and :class:`Conv2dSpec` fix ``ndim``."""

    #: Number of spatial dimensions (set by the subclasses).
    ndim: ClassVar[int]

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    padding_mode: str
    padding_sides: tuple[Sides, ...]

    @classmethod
    def from_args(
        cls: type[SpecT],
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrSeq,
        stride: IntOrSeq = 1,
        padding: str | IntOrSeq = 0,
        dilation: IntOrSeq = 1,
        groups: int = 1,
        padding_mode: str = "zeros",
    ) -> SpecT:
        """Validate like ``torch.nn.Conv1d`` / ``Conv2d`` (``ValueError`` with torch's wording), plus the checks
        torch defers."""
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not _is_int(value) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if in_channels % groups != 0:
            raise ValueError(f"in_channels must be divisible by groups (in_channels={in_channels}, groups={groups})")
        if out_channels % groups != 0:
            raise ValueError(f"out_channels must be divisible by groups (out_channels={out_channels}, groups={groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {list(PADDING_MODES)}, but got padding_mode='{padding_mode}'"
            )
        kernel = to_tuple(kernel_size, "kernel_size", cls.ndim)
        stride_tuple = to_tuple(stride, "stride", cls.ndim)
        dilation_tuple = to_tuple(dilation, "dilation", cls.ndim)
        sides = resolve_padding(padding, kernel, dilation_tuple, stride_tuple)
        normalised_padding = padding if isinstance(padding, str) else to_tuple(padding, "padding", cls.ndim, 0)
        return cls(int(in_channels), int(out_channels), kernel, stride_tuple, normalised_padding, dilation_tuple,
                   int(groups), padding_mode, sides)

    def output_size(self, *sizes: int) -> tuple[int, ...]:
        """Spatial output size (e.g. ``(H_out, W_out)``) for an input of spatial size ``sizes`` (e.g. ``height,
        width``); asymmetric 'same' padding aware."""
        if len(sizes) != self.ndim:
            raise ValueError(f"output_size: expected {self.ndim} spatial sizes, got {sizes}")
        # The formula takes padding per side; asymmetric padding is folded into the input size.
        padded = tuple(size + before + after for size, (before, after) in zip(sizes, self.padding_sides, strict=True))
        return conv_output_size(padded, self.kernel_size, self.stride, 0, self.dilation)  # type: ignore[return-value]


class Conv1dSpec(ConvSpec):
    """:class:`ConvSpec` of a 1-D convolution (inputs ``(N, C, L)``)."""

    ndim = 1


class Conv2dSpec(ConvSpec):
    """:class:`ConvSpec` of a 2-D convolution (inputs ``(N, C, H, W)``)."""

    ndim = 2


_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def channel_hint(shape: Sequence[int], expected_channels: int) -> str:
    """A likely cause for a channel mismatch of an ``(N, C, H, W)`` (or ``(N, C, L)``) input, or ``''`` if none is
    apparent."""
    if len(shape) not in (3, 4):
        return ""
    received = shape[1]
    if shape[-1] == expected_channels and received != expected_channels:
        if len(shape) == 3:
            return (" The input looks channels-last (N, L, C); cnnlab expects (N, C, L): "
                    "use x.transpose(0, 2, 1) (NumPy) or x.permute(0, 2, 1) (torch).")
        return (" The input looks channels-last (N, H, W, C); cnnlab expects (N, C, H, W): "
                "use x.transpose(0, 3, 1, 2) (NumPy) or x.permute(0, 3, 1, 2) (torch).")
    if len(shape) != 4:
        return ""
    if expected_channels == 3 and received == 1:
        return " A grayscale image was given to a layer that expects RGB (3 channels)."
    if expected_channels == 1 and received == 3:
        return " An RGB image was given to a layer that expects grayscale (1 channel)."
    return ""


def check_batch(layer: str, shape: Sequence[int], spatial_dims: int, expected_channels: int | None = None) -> None:
    """Raise ``ValueError`` unless ``shape`` is a batch with ``spatial_dims`` spatial dimensions -- ``(N, C, L)``,
    ``(N, C, H, W)``, ... -- and ``C == expected_channels`` (if given).

    The message names the layer, what was expected and what arrived, and the likely cause.
    """
    shape = tuple(shape)
    layout = _LAYOUTS.get(spatial_dims, f"(N, C, {spatial_dims} spatial dims)")
    ndim = spatial_dims + 2
    if len(shape) != ndim:
        hint = ""
        if len(shape) == ndim - 1:
            hint = f" For a single {'image' if spatial_dims == 2 else 'sample'} add a batch axis: x[None]."
        elif len(shape) == 2 and spatial_dims == 2:
            hint = " Flattened images? Reshape to (N, C, H, W) first."
        elif len(shape) == 4 and spatial_dims == 1:
            hint = " Images? This layer takes 1-D signals (N, C, L); use its 2-D counterpart."
        raise ValueError(f"{layer}: expected a {ndim}-D input {layout}, got shape {shape} ({len(shape)}-D).{hint}")
    if expected_channels is not None and shape[1] != expected_channels:
        expected_layout = layout.replace("C", str(expected_channels), 1)
        raise ValueError(
            f"{layer}: expected input with {expected_channels} channels {expected_layout}, "
            f"got shape {shape} with {shape[1]} channels.{channel_hint(shape, expected_channels)}"
        )


def check_image_batch(layer: str, shape: Sequence[int], expected_channels: int | None = None) -> None:
    """Raise ``ValueError`` unless ``shape`` is ``(N, C, H, W)`` with ``C == expected_channels`` (if given)
    (:func:`check_batch` with two spatial dimensions)."""
    check_batch(layer, shape, 2, expected_channels)


def _spec_field(name: str) -> property:
    def get(self: ConvArguments) -> object:
        return getattr(self.spec, name)

    def set_(self: ConvArguments, value: object) -> None:
        args = {field: getattr(self.spec, field) for field in _CONV_ARGUMENTS}
        self.spec = type(self.spec).from_args(**{**args, name: value})

    return property(get, set_, doc=f"``{name}`` as torch names it; assigning re-validates the geometry.")


_CONV_ARGUMENTS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                   "padding_mode")


class ConvArguments:
    """Mixin for conv layers of both engines: torch's attribute names (``stride``, ``padding``, ...) read the layer's
    validated ``spec``, and assigning one (``conv.padding = 2``) rebuilds it, so the geometry a layer computes can
    never disagree with what its attributes say."""

    spec: ConvSpec
    in_channels = _spec_field("in_channels")
    out_channels = _spec_field("out_channels")
    kernel_size = _spec_field("kernel_size")
    stride = _spec_field("stride")
    padding = _spec_field("padding")
    dilation = _spec_field("dilation")
    groups = _spec_field("groups")
    padding_mode = _spec_field("padding_mode")
