"""A trained network as data for the explorer page: its layers in order, their geometry, and their weights as
little-endian float32 in base64 (compact, exact: decoding gives back the very same float32 numbers).

:func:`export_network` walks a sequential model of any layer family (``torch.nn``, ``cnnlab.torch_nn``,
``cnnlab.numpy_nn``) and describes every layer the page's JavaScript engine computes (:data:`SUPPORTED_LAYERS`);
:func:`load_run` reads a ``cnnlab train`` run folder with a clear error for everything that is missing or wrong.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.errors import UserError
from cnnlab.geometry import resolve_padding, to_pair
from cnnlab.models import Model, count_parameters
from cnnlab.models.introspect import layer_activations, layer_kind, named_layers, to_numpy

#: What the page can compute, in words (named by every "unsupported layer" error).
SUPPORTED_LAYERS = ("Conv2d (zero padding, groups=1), ReLU, MaxPool2d (floor mode), Flatten (from dim 1), Linear, "
                    "and Dropout (the identity at inference)")


class ExportError(UserError):
    """A network or run folder the explorer cannot show: the message says what is missing or unsupported."""


# ---------------------------------------------------------------------------------------------------------------------
# Arrays <-> base64
# ---------------------------------------------------------------------------------------------------------------------

def encode_array(array: Any, dtype: str = "<f4") -> str:
    """``array`` in C order as ``dtype`` (default little-endian float32; ``"<f8"``, ``"u1"`` also used), base64."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype)).tobytes()).decode("ascii")


def decode_array(text: str, shape: tuple[int, ...] | list[int], dtype: str = "<f4") -> np.ndarray:
    """The inverse of :func:`encode_array`: a new array of ``shape``; ``ValueError`` if the size does not fit."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    values = np.frombuffer(raw, dtype=np.dtype(dtype))
    expected = int(np.prod(shape))
    if values.size != expected:
        raise ValueError(f"decode_array: {values.size} values of {dtype} but shape {tuple(shape)} needs {expected}")
    return values.reshape(tuple(shape)).copy()


# ---------------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------------

def _is_max_pool(layer: Any) -> bool:
    """Whether a pooling layer takes the maximum (torch.nn.MaxPool2d or cnnlab.numpy_nn.MaxPool2d)."""
    return "max" in type(layer).__name__.lower()


def _unsupported(name: str, layer: Any, why: str) -> ExportError:
    return ExportError(f"layer {name!r} ({type(layer).__name__}): {why}; the explorer computes {SUPPORTED_LAYERS}")


def _conv(name: str, layer: Any) -> dict[str, Any]:
    spec = getattr(layer, "spec", None)  # the own Conv2d of both engines keeps its validated arguments here
    if spec is not None:
        kernel, stride, dilation, sides = spec.kernel_size, spec.stride, spec.dilation, spec.padding_sides
        groups, mode = spec.groups, spec.padding_mode
    else:  # torch.nn.Conv2d
        kernel = to_pair(layer.kernel_size, "kernel_size")
        stride = to_pair(layer.stride, "stride")
        dilation = to_pair(layer.dilation, "dilation")
        sides = resolve_padding(layer.padding, kernel, dilation, stride)
        groups, mode = int(layer.groups), str(layer.padding_mode)
    if groups != 1:
        raise _unsupported(name, layer, f"groups={groups}")
    if mode != "zeros":
        raise _unsupported(name, layer, f"padding_mode={mode!r}")
    weight = to_numpy(layer.weight).astype(np.float32)
    bias = (np.zeros(weight.shape[0], np.float32) if layer.bias is None
            else to_numpy(layer.bias).astype(np.float32))
    return {"kind": "conv", "in_channels": int(weight.shape[1]), "out_channels": int(weight.shape[0]),
            "kernel": list(kernel), "stride": list(stride), "dilation": list(dilation),
            "padding": [list(sides[0]), list(sides[1])],
            "weight_shape": list(weight.shape), "weight": encode_array(weight), "bias": encode_array(bias)}


def _pool(name: str, layer: Any) -> dict[str, Any]:
    if not _is_max_pool(layer):
        raise _unsupported(name, layer, "only max pooling")
    if getattr(layer, "ceil_mode", False):
        raise _unsupported(name, layer, "ceil_mode=True")
    kernel = to_pair(layer.kernel_size, "kernel_size")
    raw_stride = getattr(layer, "stride", None)
    stride = to_pair(raw_stride if raw_stride not in (None, ()) else kernel, "stride")
    padding = to_pair(layer.padding, "padding", minimum=0)
    dilation = to_pair(getattr(layer, "dilation", 1), "dilation")
    return {"kind": "pool", "kernel": list(kernel), "stride": list(stride), "dilation": list(dilation),
            "padding": [[padding[0], padding[0]], [padding[1], padding[1]]]}


def _linear(layer: Any) -> dict[str, Any]:
    weight = to_numpy(layer.weight).astype(np.float32)
    bias = (np.zeros(weight.shape[0], np.float32) if layer.bias is None
            else to_numpy(layer.bias).astype(np.float32))
    return {"kind": "linear", "in_features": int(weight.shape[1]), "out_features": int(weight.shape[0]),
            "weight_shape": list(weight.shape), "weight": encode_array(weight), "bias": encode_array(bias)}


def _flatten(name: str, layer: Any) -> dict[str, Any]:
    start, end = getattr(layer, "start_dim", 1), getattr(layer, "end_dim", -1)
    if (start, end) != (1, -1):
        raise _unsupported(name, layer, f"Flatten(start_dim={start}, end_dim={end})")
    return {"kind": "flatten"}


def export_layers(model: Model, input_shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Every layer of ``model`` as a JSON-ready dict: ``name``, ``kind`` (``conv``, ``relu``, ``pool``,
    ``flatten``, ``linear``), its geometry and base64 float32 weights, and ``output_shape`` (one image of
    ``input_shape`` ``(C, H, W)`` through it, e.g. ``[5, 14, 14]`` or ``[10]``). Dropout layers (the identity at
    inference) are left out. Raises :class:`ExportError` for a layer the page cannot compute."""
    layers = named_layers(model)
    for name, layer in layers:  # check every layer before running anything
        kind = layer_kind(layer)
        if kind not in ("conv", "relu", "pool", "flatten", "linear", "dropout"):
            raise _unsupported(name, layer, "not a layer the page computes")
    try:
        shapes = {name: out.shape[1:] for name, out in
                  layer_activations(model, np.zeros((1, *input_shape), np.float32)).items()}
    except (ValueError, RuntimeError) as error:
        raise ExportError(f"the network does not accept inputs of shape {tuple(input_shape)} (C, H, W): "
                          f"{error}") from None
    exported = []
    for name, layer in layers:
        kind = layer_kind(layer)
        if kind == "dropout":
            continue
        if kind == "conv":
            entry = _conv(name, layer)
        elif kind == "pool":
            entry = _pool(name, layer)
        elif kind == "linear":
            entry = _linear(layer)
        elif kind == "flatten":
            entry = _flatten(name, layer)
        else:
            entry = {"kind": "relu"}
        exported.append({"name": name, **entry, "output_shape": [int(s) for s in shapes[name]]})
    return exported


# ---------------------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class ExportedNetwork:
    """One network as the page gets it.

    ``label``: its short name on the page (``"CNN"``); ``model``: the architecture (``"mnist-cnn"``); ``source``:
    where it came from (a run folder) and ``description`` how it was trained; ``mean``/``std``: per channel, what
    the page does to pixels in [0, 1] before the first layer (``(x - mean) / std``; 0 and 1 for unit inputs);
    ``layers``: :func:`export_layers`; ``reference``: the NumPy engine's class probabilities of the page's embedded
    images ``(N, classes)`` (float64), which the page compares its own numbers with on load.
    """

    label: str
    model: str
    source: str
    description: str
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layers: list[dict[str, Any]]
    parameters: int
    reference: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON the page reads (weights and the reference probabilities in base64)."""
        out: dict[str, Any] = {
            "label": self.label, "model": self.model, "source": self.source, "description": self.description,
            "input_shape": list(self.input_shape), "mean": list(self.mean), "std": list(self.std),
            "parameters": self.parameters, "layers": self.layers,
        }
        if self.reference is not None:
            out["reference"] = {"engine": "numpy", "shape": list(self.reference.shape),
                                "probabilities": encode_array(self.reference, "<f8")}
        return out

    def weights(self) -> dict[str, np.ndarray]:
        """The exported parameters decoded again, named like the model's ``state_dict`` (``conv1.weight``, ...)."""
        out = {}
        for layer in self.layers:
            if "weight" in layer:
                out[f"{layer['name']}.weight"] = decode_array(layer["weight"], layer["weight_shape"])
                out[f"{layer['name']}.bias"] = decode_array(layer["bias"], layer["weight_shape"][:1])
        return out


def network_label(model: Model) -> str:
    """``"CNN"`` for a network with a convolution, ``"MLP"`` otherwise."""
    return "CNN" if any(layer_kind(layer) == "conv" for _, layer in named_layers(model)) else "MLP"


def export_network(model: Model, *, input_shape: tuple[int, int, int], mean: tuple[float, ...] | None = None,
                   std: tuple[float, ...] | None = None, model_name: str = "network", label: str | None = None,
                   source: str = "", description: str = "") -> ExportedNetwork:
    """Describe ``model`` (any layer family) for the page. ``mean``/``std`` (per channel, [0, 1] units) are the
    input standardisation it was trained with; the default (0, 1) means pixels in [0, 1] as they are."""
    channels = input_shape[0]
    mean = tuple(float(m) for m in (mean if mean is not None else (0.0,) * channels))
    std = tuple(float(s) for s in (std if std is not None else (1.0,) * channels))
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean and std need one value per input channel ({channels}), got {mean} and {std}")
    c, h, w = input_shape
    return ExportedNetwork(label or network_label(model), model_name, source, description, (int(c), int(h), int(w)),
                           mean, std, export_layers(model, input_shape), count_parameters(model))


def export_trained(model: Model, config: Any, *, source: str = "") -> ExportedNetwork:
    """:func:`export_network` of a network trained by cnnlab with ``config`` (a
    :class:`~cnnlab.training.TrainConfig`): its dataset's input shape and the standardisation it was trained with."""
    from cnnlab.data import get_dataset

    spec = get_dataset(config.dataset)
    mean, std = spec.stats if config.normalization == "standard" else (None, None)
    return export_network(model, input_shape=spec.image_shape, mean=mean, std=std, model_name=config.model,
                          source=source, description=config.describe())


# ---------------------------------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------------------------------

def load_run(folder: str | Path, engine: str = "numpy") -> tuple[Model, Any]:
    """The network of a ``cnnlab train`` run folder (its ``model.pt`` + ``config.json``), built from ``engine``'s
    layers, and its :class:`~cnnlab.training.TrainConfig`.

    Raises :class:`ExportError` naming every missing file, a config that is not a cnnlab config, or weights that
    do not fit the architecture the config names. ``model.pt`` is read with ``weights_only=True`` (tensors only,
    never arbitrary pickled objects).
    """
    import torch

    from cnnlab.models import build_model
    from cnnlab.training import read_config
    from cnnlab.training.run import CONFIG_FILE, MODEL_FILE

    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder: point at the folder of a 'cnnlab train' run (it holds "
                          f"{MODEL_FILE} and {CONFIG_FILE})")
    missing = [name for name in (MODEL_FILE, CONFIG_FILE) if not (folder / name).is_file()]
    if missing:
        raise ExportError(f"{folder} is not a finished 'cnnlab train' run: {' and '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} missing (a run folder holds {MODEL_FILE} and "
                          f"{CONFIG_FILE}; train one with cnnlab train --recipe mnist-seed --out {folder})")
    try:
        config = read_config(folder)
    except (FileNotFoundError, ValueError) as error:
        raise ExportError(str(error)) from None
    try:
        state = torch.load(folder / MODEL_FILE, weights_only=True)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        raise ExportError(f"{folder / MODEL_FILE} could not be read as a state_dict of tensors: {error}") from None
    model = build_model(config.model, engine, conv_algorithm=None)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        problems = " ".join(line.strip() for line in str(error).splitlines())  # one line, as the CLI prints it
        raise ExportError(f"{folder / MODEL_FILE} does not hold the weights of a {config.model} (as "
                          f"{folder / CONFIG_FILE} says): {problems}") from None
    return model, config
