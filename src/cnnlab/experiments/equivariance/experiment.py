"""Assignment 004, task 6: translation equivariance of a CNN against an MLP on MNIST, measured.

The assignment's experiment: the MLP and the CNN (the one trained in task 5, recipe ``mnist-seed``) evaluated on the
validation set as is and shifted 2 px right and 2 px down (four accuracies). Beyond the assignment: accuracy against
shift (0..``max_shift`` px; right, down and diagonal) for the MLP, the CNN and an MLP trained with random shifts
(recipe ``mlp-shift``); the per-layer measurement of :mod:`.measure`; the assignment's three questions answered from the
numbers (:mod:`.answers`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import data
from cnnlab.experiments.base import Context, Experiment, TrainedNetwork
from cnnlab.experiments.equivariance.answers import answers
from cnnlab.experiments.equivariance.measure import ExampleMaps, LayerEquivariance, examples, measure_equivariance
from cnnlab.models import FAMILIES, Model
from cnnlab.options import Validated, option, settings_dict
from cnnlab.training import predict

#: The networks of the experiment: key -> (recipe, display name). The CNN may come from ``--weights``.
NETWORKS: dict[str, tuple[str, str]] = {
    "mlp": ("mlp-seed", "MLP"),
    "cnn": ("mnist-seed", "CNN"),
    "mlp_augmented": ("mlp-shift", "MLP + shift augmentation"),
}
#: Validation images shown next to their shifted copies (the exercise shows 4 + 4).
SAMPLES = 4
#: Shift directions of the accuracy curves: name -> (dx, dy) per pixel of shift (right and down are positive).
DIRECTIONS: dict[str, tuple[int, int]] = {"right": (1, 0), "down": (0, 1), "diagonal": (1, 1)}


@dataclass(frozen=True)
class EquivarianceSettings(Validated):
    """The assignment's shift (2 px right, 2 px down) and what is measured beyond it.

    The networks come from recipes (``mlp-seed``, ``mnist-seed``, ``mlp-shift``: the assignment's training settings);
    ``weights`` points at a finished ``cnnlab train --recipe mnist-seed`` run to reuse its CNN.
    """

    weights: Path | None = option(None, "Folder of a 'cnnlab train --recipe mnist-seed' run whose CNN to use "
                                  "[default: the run's own, or --train].", metavar="RUN_DIR")
    engine: str | None = option(None, "Layer family of the networks trained here [default: the recipes' numpy].",
                                choices=lambda: tuple(FAMILIES))
    shift: tuple[int, int] = option((2, 2), "The assignment's shift (dx right, dy down) in pixels.", metavar="DX,DY")
    max_shift: int = option(6, "Largest shift of the accuracy curves, in pixels.", minimum=0, maximum=14)
    augmented_mlp: bool = option(True, "Also train an MLP with random shifts.")
    augment_shift: int = option(3, "Largest random shift (px) of the augmented MLP's training.", minimum=0)
    probe_images: int = option(500, "Validation images of the per-layer measurement.", minimum=1)
    probe_shifts: tuple[tuple[int, int], ...] = option(((2, 2), (4, 4)), "Shifts of the per-layer measurement.",
                                                       cli=False)
    val_max_datapoints: int | None = option(None, "Use only the first N validation images.", minimum=1)

    def check(self) -> None:
        if len(self.shift) != 2:
            raise ValueError(f"--shift needs two numbers (dx, dy), got {self.shift}")
        if any(len(p) != 2 for p in self.probe_shifts):
            raise ValueError(f"probe_shifts must be (dx, dy) pairs, got {self.probe_shifts}")

    def quick(self) -> EquivarianceSettings:
        return replace(self, val_max_datapoints=2000, probe_images=200)


@dataclass
class AccuracyCurve:
    """Validation accuracy of one model for shifts ``shifts`` (px) along ``direction``."""

    model: str
    direction: str
    shifts: list[int]
    accuracy: list[float]

    def at(self, s: int) -> float:
        return self.accuracy[self.shifts.index(s)]


@dataclass
class EquivarianceResult:
    """Everything the equivariance experiment measured; :meth:`to_dict` is the JSON form (no big arrays).

    ``labels``: display name per model key; ``trained``: whether each network was trained in this run
    (``histories`` holds their curves) or came from ``--weights``.
    """

    settings: EquivarianceSettings
    accuracy: dict[str, dict[str, float]]
    curves: list[AccuracyCurve]
    layers: dict[str, list[LayerEquivariance]]
    histories: dict[str, dict[str, Any]]
    examples: list[ExampleMaps]
    seconds: dict[str, float]
    n_train: int | None
    n_val: int
    labels: dict[str, str]
    #: The first validation images (uint8 ``(k, 1, 28, 28)``), their labels, and the same images shifted.
    samples: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 28, 28), np.uint8), repr=False)
    sample_labels: list[int] = field(default_factory=list)
    shifted_samples: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 28, 28), np.uint8), repr=False)
    trained: dict[str, bool] = field(default_factory=dict)
    #: The assignment's three questions with answers generated from the numbers (:func:`.answers.answers`).
    answers: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def example(self) -> ExampleMaps | None:
        """The example of the first convolution (None without a CNN)."""
        return self.examples[0] if self.examples else None

    def curve(self, model: str, direction: str) -> AccuracyCurve:
        for c in self.curves:
            if c.model == model and c.direction == direction:
                return c
        raise KeyError(f"no curve for model {model!r} and direction {direction!r}")

    def layer(self, model: str, name: str, shift_px: tuple[int, int]) -> LayerEquivariance:
        for m in self.layers.get(model, []):
            if m.layer == name and tuple(m.shift) == tuple(shift_px):
                return m
        raise KeyError(f"no measurement for {model!r} layer {name!r} at shift {shift_px}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": settings_dict(self.settings),
            "n_train": self.n_train,
            "n_val": self.n_val,
            "trained": dict(self.trained),
            "accuracy": self.accuracy,
            "curves": [asdict(c) for c in self.curves],
            "layers": {model: [m.to_dict() for m in ms] for model, ms in self.layers.items()},
            "histories": self.histories,
            "examples": [ex.to_dict() for ex in self.examples],
            "seconds": self.seconds,
            "answers": [{"question": q, "points": a} for q, a in self.answers],
        }


def _networks(settings: EquivarianceSettings, context: Context) -> dict[str, TrainedNetwork]:
    overrides = {"engine": settings.engine} if settings.engine is not None else {}
    # The CNN first: a wrong --weights folder or a missing network is said before anything is trained.
    cnn = context.network(NETWORKS["cnn"][0], settings.weights, model="mnist-cnn", purpose="equivariance",
                          **overrides)
    networks = {"mlp": context.train(NETWORKS["mlp"][0], **overrides), "cnn": cnn}
    if settings.augmented_mlp:
        networks["mlp_augmented"] = context.train(NETWORKS["mlp_augmented"][0], augment_pixels=settings.augment_shift,
                                                  **overrides)
    return networks


def _inputs(dataset: data.Dataset, images: np.ndarray, normalization: str) -> np.ndarray:
    """``images`` (uint8, like ``dataset``'s) as a network trained with ``normalization`` expects them."""
    like = dataclasses.replace(dataset, images=images, labels=dataset.labels[:len(images)])
    return data.prepare(like, normalization)[0]


def run(settings: EquivarianceSettings, context: Context) -> EquivarianceResult:
    """Evaluate the MLP, the CNN and (optionally) the augmented MLP on shifted validation digits, and measure
    every layer's equivariance on ``probe_images`` of them."""
    seconds: dict[str, float] = {}
    start_all = time.perf_counter()
    networks = _networks(settings, context)
    seconds["networks"] = time.perf_counter() - start_all
    models: dict[str, Model] = {key: net.load() for key, net in networks.items()}
    val = context.dataset("mnist", "val", max_datapoints=settings.val_max_datapoints)

    # Accuracy against shift: each shifted validation set is made once (uint8, background 0) and shared.
    start = time.perf_counter()
    shifts = list(range(settings.max_shift + 1))
    offsets = sorted({(0, 0), settings.shift} | {(s * ux, s * uy) for ux, uy in DIRECTIONS.values() for s in shifts})
    acc: dict[str, dict[tuple[int, int], float]] = {key: {} for key in models}
    for dx, dy in offsets:
        moved = data.shift_images(val.images, dx, dy)
        for key, model in models.items():
            x = _inputs(val, moved, networks[key].config.normalization)
            acc[key][(dx, dy)] = float((predict(model, x).argmax(axis=1) == val.labels).mean())
    curves = [AccuracyCurve(key, direction, shifts, [acc[key][(s * ux, s * uy)] for s in shifts])
              for key in models for direction, (ux, uy) in DIRECTIONS.items()]
    accuracy = {key: {"original": acc[key][(0, 0)], "shifted": acc[key][settings.shift]} for key in models}
    seconds["accuracy_curves"] = time.perf_counter() - start

    # Per-layer equivariance (invariance for the MLPs) on the first probe images, background = an empty pixel.
    start = time.perf_counter()
    probe_raw = val.images[:settings.probe_images]
    layers: dict[str, list[LayerEquivariance]] = {}
    maps: list[ExampleMaps] = []
    for key, model in models.items():
        normalization = networks[key].config.normalization
        probe = _inputs(val, probe_raw, normalization)
        fill = float(_inputs(val, np.zeros_like(probe_raw[:1]), normalization).flat[0])
        layers[key] = [m for d in settings.probe_shifts
                       for m in measure_equivariance(model, probe, d, fill=fill)]
        if key == "cnn":
            maps = examples(model, probe, settings.shift, fill=fill)
    seconds["equivariance"] = time.perf_counter() - start
    seconds["total"] = time.perf_counter() - start_all

    histories = {key: {"train_acc": net.result.history.train_acc, "val_acc": net.result.history.val_acc,
                       "train_loss": net.result.history.train_loss, "val_loss": net.result.history.val_loss,
                       "seconds": net.result.history.seconds, "interrupted": net.result.history.interrupted}
                 for key, net in networks.items() if net.result is not None}
    n_train = next((net.result.train_size for net in networks.values() if net.result is not None), None)
    result = EquivarianceResult(settings=settings, accuracy=accuracy, curves=curves, layers=layers,
                                histories=histories, examples=maps, seconds=seconds, n_train=n_train,
                                n_val=len(val), labels={key: NETWORKS[key][1] for key in models},
                                samples=val.images[:SAMPLES].copy(), sample_labels=val.labels[:SAMPLES].tolist(),
                                shifted_samples=data.shift_images(val.images[:SAMPLES], *settings.shift),
                                trained={key: net.result is not None for key, net in networks.items()})
    result.answers = answers(result)
    return result


EXPERIMENT = Experiment("equivariance", "Translation equivariance: MLP vs CNN (assignment 004, task 6)",
                        "Assignment 004 task 6: MLP vs CNN on MNIST digits shifted 2 px right and down, and how "
                        "equivariant each layer is.", EquivarianceSettings, run, uses_networks=True)
