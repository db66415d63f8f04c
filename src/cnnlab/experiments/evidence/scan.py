"""One streaming pass over a test set: per batch, every layer's output once; from them the logits, every conv
channel's response (the spatial maximum of its response map, and where it is) and -- when asked -- the predictions
with each channel switched off (zero), from the layers after the conv on (:mod:`.walk`). Memory is bounded by one
batch's activations; what is kept is ``O(N x channels)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from cnnlab.experiments.evidence.walk import ConvUnit, LayerWalk
from cnnlab.models import Model

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass
class Scan:
    """What the pass keeps, for ``N`` images.

    ``logits`` ``(N, K)``; per conv unit name: ``responses`` ``(N, C)`` (spatial max of the response map),
    ``positions`` ``(N, C)`` (its flat position ``y * W + x`` in the map), ``map_shapes`` ``(H, W)`` of the map and
    ``ablated_correct`` ``(N, C)`` (whether the prediction with that channel zeroed is right; empty without
    ablation); ``input_mean`` ``(C_in,)``: the mean input pixel per channel, in model input units.
    """

    logits: np.ndarray
    units: list[ConvUnit]
    input_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    responses: dict[str, np.ndarray] = field(default_factory=dict)
    positions: dict[str, np.ndarray] = field(default_factory=dict)
    map_shapes: dict[str, tuple[int, int]] = field(default_factory=dict)
    ablated_correct: dict[str, np.ndarray] = field(default_factory=dict)


def _as_float(batch: np.ndarray) -> np.ndarray:
    return np.asarray(batch, dtype=np.float32)


def scan(model: Model, images: np.ndarray, labels: np.ndarray, *, transform: Transform = _as_float,
         batch_size: int = 500, ablation: bool = True, progress: bool = False, desc: str = "scan") -> Scan:
    """Stream ``images`` ``(N, C, H, W)`` through ``model`` in batches of ``batch_size``.

    ``transform`` turns a slice of ``images`` into model inputs (e.g. uint8 -> standardised float32), so the whole
    set is never converted at once. ``ablation``: also evaluate the network with each conv channel set to zero
    (one partial forward pass per channel and batch).
    """
    if len(images) == 0:
        raise ValueError("scan needs at least one image")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    walk = LayerWalk(model)
    n = len(images)
    logit_parts: list[np.ndarray] = []
    response_parts: dict[str, list[np.ndarray]] = {u.name: [] for u in walk.units}
    position_parts: dict[str, list[np.ndarray]] = {u.name: [] for u in walk.units}
    ablated_parts: dict[str, list[np.ndarray]] = {u.name: [] for u in walk.units}
    result = Scan(np.zeros((0, 0), np.float32), walk.units)
    input_sum = np.zeros(images.shape[1])
    starts = range(0, n, batch_size)
    with walk.evaluating(), tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False,
                                 dynamic_ncols=True) as bar:
        for start in bar:
            y = labels[start:start + batch_size]
            x = transform(images[start:start + batch_size])
            input_sum += x.sum(axis=(0, 2, 3), dtype=np.float64)
            outputs = walk.all_outputs(walk.inputs(x))
            logit_parts.append(walk.numpy(outputs[-1]))
            for unit in walk.units:
                response = outputs[unit.response_index]
                values, positions = walk.spatial_max(response)
                response_parts[unit.name].append(values)
                position_parts[unit.name].append(positions)
                result.map_shapes[unit.name] = (int(response.shape[2]), int(response.shape[3]))
                if ablation:
                    correct = np.empty((len(y), unit.channels), dtype=bool)
                    for channel in range(unit.channels):
                        h = walk.run(walk.without_channel(outputs[unit.ablation_index], channel),
                                     unit.ablation_index + 1)
                        correct[:, channel] = walk.numpy(h).argmax(axis=1) == y
                    ablated_parts[unit.name].append(correct)
    result.logits = np.concatenate(logit_parts)
    result.input_mean = (input_sum / (n * images.shape[2] * images.shape[3])).astype(np.float32)
    for unit in walk.units:
        result.responses[unit.name] = np.concatenate(response_parts[unit.name])
        result.positions[unit.name] = np.concatenate(position_parts[unit.name])
        if ablation:
            result.ablated_correct[unit.name] = np.concatenate(ablated_parts[unit.name])
    return result
