"""Looking inside a sequential model of any layer family: its named layers, their kinds (by type), every layer's
activations for a batch, the first convolution, and the receptive field of every layer's output.

Shared by the feature-map and equivariance experiments (and anything else that walks a model layer by layer).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from cnnlab.geometry import resolve_padding, to_pair
from cnnlab.models.families import FAMILIES
from cnnlab.models.protocol import Model

#: Every layer kind :func:`layer_kind` can return.
LAYER_KINDS = ("conv", "pool", "relu", "linear", "flatten", "dropout", "batchnorm", "residual", "global-pool", "other")


def is_torch_module(obj: object) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (else a NumPy-engine module or something else)."""
    import torch

    return isinstance(obj, torch.nn.Module)


def to_numpy(value: Any) -> np.ndarray:
    """A parameter or activation of either engine as a NumPy array (detached, float, on the CPU)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # torch tensor / Parameter
        return value.detach().float().cpu().numpy()
    data = getattr(value, "data", value)  # a numpy_nn Parameter keeps its array in .data
    return np.asarray(data)


@cache
def _kinds_by_class() -> dict[type, str]:
    kinds: dict[type, str] = {}
    for family in FAMILIES.values():
        kinds.update(family.kinds())
    return kinds


def layer_kind(layer: object) -> str:
    """The kind of a layer by its type: one of :data:`LAYER_KINDS` (``other`` for anything unregistered)."""
    for cls, kind in _kinds_by_class().items():
        if isinstance(layer, cls):
            return kind
    return "other"


def named_layers(model: Model) -> list[tuple[str, Any]]:
    """The ``(name, layer)`` children of a sequential model of either engine, in order."""
    if not hasattr(model, "named_children"):
        raise TypeError(f"expected a sequential model with named_children() (torch.nn.Sequential or "
                        f"cnnlab.numpy_nn.Sequential), got {type(model).__name__}")
    layers = list(model.named_children())
    if not layers:
        raise ValueError(f"the model {type(model).__name__} has no layers")
    return layers


def check_images(images: Any) -> np.ndarray:
    """``images`` as a float32 ``(N, C, H, W)`` array, or a clear error (single image, integer pixels)."""
    x = to_numpy(images)
    if x.ndim != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {x.shape}"
                         + (" (a single image? add a batch axis: x[None])" if x.ndim == 3 else ""))
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"images must be floating point as the model was trained on them (e.g. float32 in [0, 1]), "
                        f"got {x.dtype}; convert uint8 images with cnnlab.data.to_float or prepare first")
    return np.ascontiguousarray(x, dtype=np.float32)


def layer_activations(model: Model, images: Any) -> OrderedDict[str, np.ndarray]:
    """Output of every child of ``model`` for ``images`` ``(N, C, H, W)``, as float32 NumPy arrays, in order.

    The model runs in eval mode (torch: under ``no_grad`` on the device of its parameters); its training flag is
    restored afterwards.
    """
    x = check_images(images)
    layers = named_layers(model)
    outputs: OrderedDict[str, np.ndarray] = OrderedDict()
    was_training = bool(model.training)
    model.eval()
    try:
        if is_torch_module(model):
            import torch

            params = list(model.parameters())
            device = params[0].device if params else torch.device("cpu")
            with torch.no_grad():
                h = torch.from_numpy(x).to(device)
                for name, layer in layers:
                    h = layer(h)
                    outputs[name] = h.detach().float().cpu().numpy()
        else:
            a = x
            for name, layer in layers:
                a = layer(a)
                outputs[name] = np.asarray(a, dtype=np.float32)
    finally:
        model.train(was_training)
    return outputs


def first_conv(model: Model) -> tuple[str, np.ndarray]:
    """Name and weight ``(out, in, kh, kw)`` of the first convolution of ``model``."""
    for name, layer in named_layers(model):
        if layer_kind(layer) == "conv":
            return name, to_numpy(layer.weight).astype(np.float32)
    raise ValueError(f"the model has no convolution layer (layers: {[n for n, _ in named_layers(model)]})")


# ---------------------------------------------------------------------------------------------------------------------
# Receptive fields
# ---------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AxisGeometry:
    """Where output position ``j`` of a layer looks in the input image, along one axis.

    Its receptive field is the input pixels ``offset + stride * j .. offset + stride * j + extent - 1`` (pixels
    outside ``0 .. size - 1`` are padding).
    """

    offset: int
    stride: int
    extent: int
    size: int

    def then(self, kernel: int, stride: int, pad_before: int, dilation: int = 1) -> AxisGeometry:
        """The geometry after one more window layer (kernel, stride, padding before, dilation) on this axis."""
        return AxisGeometry(self.offset - pad_before * self.stride, self.stride * stride,
                            self.extent + (kernel - 1) * dilation * self.stride, self.size)


#: (y, x) receptive-field geometry of a spatial map.
MapGeometry = tuple[AxisGeometry, AxisGeometry]
_Window = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]


def layer_window(layer: Any) -> _Window | None:
    """``(kernel, stride, padding before, dilation)`` as (y, x) pairs of a conv or pooling layer, else None."""
    spec = getattr(layer, "spec", None)
    if spec is not None and hasattr(spec, "padding_sides"):
        (top, _), (left, _) = spec.padding_sides
        return spec.kernel_size, spec.stride, (top, left), spec.dilation
    try:
        kernel = to_pair(layer.kernel_size, "kernel_size")
        raw_stride = getattr(layer, "stride", None)
        stride = to_pair(raw_stride if raw_stride not in (None, ()) else kernel, "stride")
        dilation = to_pair(getattr(layer, "dilation", 1), "dilation")
        (top, _), (left, _) = resolve_padding(getattr(layer, "padding", 0), kernel, dilation, stride)
    except (AttributeError, TypeError, ValueError):
        return None
    return kernel, stride, (top, left), dilation


def receptive_fields(model: Model, input_hw: tuple[int, int]) -> dict[str, MapGeometry | None]:
    """Per layer name, the (y, x) receptive-field geometry of its output, or None where it is not a spatial map
    with known geometry (after flatten / linear, or an unrecognised layer)."""
    geometry: MapGeometry | None = (AxisGeometry(0, 1, 1, input_hw[0]), AxisGeometry(0, 1, 1, input_hw[1]))
    out: dict[str, MapGeometry | None] = {}
    for name, layer in named_layers(model):
        kind = layer_kind(layer)
        if geometry is not None:
            if kind in ("conv", "pool"):
                window = layer_window(layer)
                if window is None:
                    geometry = None
                else:
                    (ky, kx), (sy, sx), (py, px), (dy, dx) = window
                    geometry = (geometry[0].then(ky, sy, py, dy), geometry[1].then(kx, sx, px, dx))
            elif kind not in ("relu", "dropout", "batchnorm"):  # pointwise layers keep the geometry
                geometry = None
        out[name] = geometry
    return out
