"""Running a sequential model of either engine layer by layer: the part of a forward pass from one layer on, with a
channel switched off, and the spatial maximum of every channel -- in the engine's own arrays (torch tensors or
NumPy arrays), so nothing is copied between layers.

The "units" examined are the conv layers' output channels; a channel's *response map* is the output of the ReLU
right after the conv (what the next layer sees), or the conv's own output when no ReLU follows.

Zeroing a channel (ablation) happens after the last channel-wise layer that follows the conv: ReLU, max or average
pooling and dropout (an identity in eval mode) act on each channel alone and map an all-zero channel to an all-zero
channel, so zeroing it there gives exactly the predictions of zeroing the conv's output -- with those layers not
recomputed once per channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.models import Model
from cnnlab.models.introspect import is_torch_module, layer_kind, named_layers
from cnnlab.threads import blas_threads

#: Layer kinds that act on each channel alone and keep an all-zero channel all zero (in eval mode).
CHANNEL_WISE = ("relu", "pool", "dropout")


@dataclass(frozen=True)
class ConvUnit:
    """A conv layer of the model: its name and index, the index of the layer whose output is its response, and the
    index of the layer after which a channel is zeroed for ablation (see the module docstring)."""

    name: str
    index: int
    response_index: int
    ablation_index: int
    channels: int


class LayerWalk:
    """A model run layer by layer on NumPy batches ``(N, C, H, W)``; use inside :meth:`evaluating`."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.layers = named_layers(model)
        self.kinds = [layer_kind(layer) for _, layer in self.layers]
        self.is_torch = is_torch_module(model)
        self.units = self._conv_units()

    def _conv_units(self) -> list[ConvUnit]:
        units = []
        for index, ((name, layer), kind) in enumerate(zip(self.layers, self.kinds, strict=True)):
            if kind != "conv":
                continue
            response = index + 1 if index + 1 < len(self.layers) and self.kinds[index + 1] == "relu" else index
            ablation = index
            while ablation + 1 < len(self.layers) and self.kinds[ablation + 1] in CHANNEL_WISE:
                ablation += 1
            units.append(ConvUnit(name, index, response, ablation, int(layer.out_channels)))
        return units

    @contextmanager
    def evaluating(self) -> Iterator[LayerWalk]:
        """Eval mode (restored afterwards); torch: inference mode; NumPy engine: one BLAS thread (its products are
        small, as in :func:`cnnlab.training.predict`)."""
        was_training = bool(self.model.training)
        self.model.eval()
        with ExitStack() as stack:
            if self.is_torch:
                import torch

                stack.enter_context(torch.inference_mode())
            else:
                stack.enter_context(blas_threads(1))
            try:
                yield self
            finally:
                self.model.train(was_training)

    def inputs(self, x: np.ndarray) -> Any:
        """A NumPy batch as the engine's array (a tensor on the model's device for torch)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not self.is_torch:
            return x
        import torch

        params = list(self.model.parameters())
        device = params[0].device if params else torch.device("cpu")
        return torch.from_numpy(x).to(device)

    @staticmethod
    def numpy(h: Any) -> np.ndarray:
        """An engine array as a float32 NumPy array."""
        if isinstance(h, np.ndarray):
            return h.astype(np.float32, copy=False)
        return h.detach().float().cpu().numpy()

    def run(self, h: Any, start: int = 0, stop: int | None = None) -> Any:
        """Layers ``start .. stop - 1`` (default: to the end) applied to ``h`` (an engine array)."""
        for _, layer in self.layers[start:stop]:
            h = layer(h)
        return h

    def all_outputs(self, h: Any) -> list[Any]:
        """Every layer's output for ``h``, in order (engine arrays)."""
        outputs = []
        for _, layer in self.layers:
            h = layer(h)
            outputs.append(h)
        return outputs

    def without_channel(self, h: Any, channel: int) -> Any:
        """A copy of ``h`` ``(N, C, H, W)`` with ``channel`` set to zero everywhere."""
        h = h.clone() if self.is_torch else h.copy()
        h[:, channel] = 0
        return h

    def spatial_max(self, h: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per image and channel of ``h`` ``(N, C, H, W)``: the largest value and its flat position ``y * W + x``
        (the first one on ties), as NumPy arrays ``(N, C)``."""
        if self.is_torch:
            values, positions = h.flatten(2).max(dim=2)
            return self.numpy(values), positions.cpu().numpy().astype(np.int64)
        flat = h.reshape(h.shape[0], h.shape[1], -1)
        positions = flat.argmax(axis=2)
        return np.take_along_axis(flat, positions[..., None], axis=2)[..., 0].astype(np.float32), positions
