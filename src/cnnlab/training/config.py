"""What defines a training run: :class:`TrainConfig` (validated before any data is loaded), the training kit it
builds from any layer family (:func:`build_training_kit`: optimizer, loss, per-batch schedule) and the named recipes.

The fields describe themselves (:func:`cnnlab.options.option`), so ``cnnlab train``'s options are generated from
them and their choices come from the registries (models, layer families, conv algorithms).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import numpy as np

from cnnlab.data import NORMALIZATIONS, VAL_SOURCES, random_crop_flip
from cnnlab.models import MODELS, all_conv_algorithms, get_family, get_model_info
from cnnlab.options import Validated, cli_name, option

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "onecycle", "cosine", "step")
#: The linear warm-up (``warmup_epochs``) starts at this fraction of ``lr``.
WARMUP_START_FACTOR = 0.01
DEVICES = ("auto", "cpu", "cuda")
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]

#: Training augmentations by name: each takes ``augment_pixels`` and returns ``augment(x_batch, rng)``.
AUGMENTATIONS: dict[str, Callable[[int], Augment | None]] = {
    "none": lambda pixels: None,
    # Pad by `pixels`, crop back at a random offset, mirror left-right with probability 1/2 (CIFAR-style).
    "crop-flip": lambda pixels: random_crop_flip(padding=pixels, flip=True),
    # A random whole-pixel shift of up to ±pixels in x and y, vacated pixels 0 (the shift experiment's remedy).
    "shift": lambda pixels: random_crop_flip(padding=pixels, flip=False),
}


@dataclass(frozen=True)
class TrainConfig(Validated):
    """Everything that defines a training run (the dataset follows from the model). Choices, bounds and the
    engine x algorithm x device combination are checked on construction; :meth:`validate` also checks that the
    device exists on this machine."""

    model: str = option("mnist-cnn", "Network (sets the dataset).", choices=lambda: tuple(MODELS))
    engine: str = option("torch", "Layer family: torch.nn, the own torch layers, or the NumPy engine.",
                         choices=lambda: tuple(_families()))
    epochs: int = option(10, "Training epochs.", minimum=1)
    batch_size: int = option(50, "Images per mini-batch.", minimum=1)
    optimizer: str = option("sgd", "Optimiser (adamw: decoupled weight decay).", choices=OPTIMIZERS)
    lr: float = option(0.01, "Learning rate (the peak for onecycle).", minimum=0, min_open=True)
    momentum: float = option(0.9, "Momentum of sgd and rmsprop.", minimum=0, maximum=1)
    nesterov: bool = option(False, "Nesterov momentum (sgd).")
    weight_decay: float = option(0.0, "Weight decay (L2; decoupled for adamw).", minimum=0)
    schedule: str = option("none", "Learning-rate schedule, stepped per batch: onecycle, cosine annealing to 0, or "
                           "step (times --lr-gamma every --lr-step-epochs).", choices=SCHEDULES)
    warmup_epochs: int = option(0, "Linear warm-up from lr/100 over this many epochs, then the schedule (not with "
                                "onecycle, which warms up itself).", minimum=0)
    lr_step_epochs: int = option(10, "Epochs between the lr drops of the step schedule.", minimum=1)
    lr_gamma: float = option(0.1, "Factor of each lr drop of the step schedule.", minimum=0, min_open=True, maximum=1)
    label_smoothing: float = option(0.0, "Label smoothing of the cross-entropy loss.", minimum=0, maximum=1)
    normalization: str = option("unit", "Pixels in [0, 1] (unit) or per-channel z-scores (standard).",
                                choices=NORMALIZATIONS)
    augment: str = option("none", "Training augmentation: random crop + flip, or random shifts.",
                          choices=lambda: tuple(AUGMENTATIONS))
    augment_pixels: int = option(4, "Crop padding / largest shift of the augmentation, in pixels.", minimum=0)
    max_datapoints: int | None = option(None, "Use only the first N images of every split (train, val, test).",
                                        minimum=1, aliases=("--max_datapoints",))
    val_source: str = option("holdout", "Validate on a holdout of the training set or on the test set.",
                             choices=VAL_SOURCES)
    seed: int = option(0, "Random seed (initial weights, shuffling, augmentation).", minimum=0, maximum=2**32 - 1)
    device: str = option("auto", "Where the torch engines run (auto: CUDA when available).", choices=DEVICES)
    channels_last: bool = option(False, "Torch engines: keep the conv weights, hence the activations, channels-last "
                                 "in memory (NHWC; on a CPU faster convolutions and pooling: LeNet steps 1.5x on "
                                 "one thread).")
    conv_algorithm: str | None = option(None, "The own Conv2d's algorithm (engines torch-own and numpy).",
                                        choices=all_conv_algorithms)

    @property
    def dataset(self) -> str:
        return get_model_info(self.model).dataset

    def check(self) -> None:
        """An algorithm or device the engine lacks is a ``ValueError`` naming the option."""
        get_family(self.engine).check(self.conv_algorithm, self.device)
        if self.warmup_epochs and self.schedule == "onecycle":
            raise ValueError("--warmup-epochs: the onecycle schedule warms up by itself; use it with cosine, step or "
                             "none")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"--warmup-epochs {self.warmup_epochs} must be fewer than --epochs {self.epochs}")
        if self.channels_last and not get_family(self.engine).autograd:
            raise ValueError(f"--channels-last applies to the torch engines; the {self.engine} engine keeps NCHW")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("--nesterov needs --optimizer sgd and a momentum above 0")

    def validate(self) -> None:
        """Raise ``ValueError`` when the run cannot happen here (``--device cuda`` without CUDA)."""
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device cuda: CUDA is not available here (torch {torch.__version__}); use "
                                 "--device cpu or auto")

    def augmentation(self) -> Augment | None:
        """The training augmentation ``augment(x_batch, rng)``, or None."""
        return AUGMENTATIONS[self.augment](self.augment_pixels)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """The settings in words: ``"lenet on the torch engine, 25 epochs of batch 64, SGD lr 0.05, ..."``."""
        optimizer = {"sgd": f"SGD lr {self.lr:g}, {'Nesterov ' if self.nesterov else ''}momentum {self.momentum:g}",
                     "adam": f"Adam lr {self.lr:g}", "adamw": f"AdamW lr {self.lr:g}",
                     "rmsprop": f"RMSprop lr {self.lr:g}, momentum {self.momentum:g}"}[self.optimizer]
        schedule = {"onecycle": "one-cycle schedule (peak = lr)", "cosine": "cosine annealing to 0",
                    "step": f"lr times {self.lr_gamma:g} every {self.lr_step_epochs} epochs",
                    "none": "constant lr"}[self.schedule]
        if self.warmup_epochs:
            schedule = f"{self.warmup_epochs} warm-up epochs, then {schedule}"
        augment = {"none": None, "crop-flip": f"random crop (padding {self.augment_pixels}) and horizontal flip",
                   "shift": f"random shifts of up to ±{self.augment_pixels} px"}[self.augment]
        parts = [f"{self.model} on the {self.engine} engine", f"{self.epochs} epochs of batch {self.batch_size}",
                 optimizer + (f", weight decay {self.weight_decay:g}" if self.weight_decay else ""), schedule,
                 *([f"label smoothing {self.label_smoothing:g}"] if self.label_smoothing else []),
                 "inputs standardised per channel" if self.normalization == "standard" else "pixels scaled to [0, 1]",
                 *([augment] if augment else []),
                 *([f"the first {self.max_datapoints} images of each split"] if self.max_datapoints else []),
                 f"seed {self.seed}"]
        return ", ".join(parts)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """A config from :meth:`to_dict` output (e.g. a run's ``config.json``): unknown keys, values of the wrong
        type and values outside their choices or bounds are a ``ValueError`` naming the setting (the device need not
        be available here: a run trained on a GPU can be inspected on a laptop)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; expected some of {sorted(known)}")
        values = dict(data)
        if isinstance(values.get("augment"), bool):  # runs of cnnlab 0.1.0: augment was a crop+flip switch
            values["augment"] = "crop-flip" if values["augment"] else "none"
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            values[name] = _typed(name, value, hints[name])
        return cls(**values)


def _typed(name: str, value: Any, annotation: Any) -> Any:
    """``value`` as the setting's type (an int for a float setting becomes a float); ``ValueError`` otherwise."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    kind = next((a for a in args if a is not type(None)), annotation)
    if value is None and optional:
        return None
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = kind.__name__ + (" or null" if optional else "")
    raise ValueError(f"{cli_name(name)} must be {expected}, got {value!r}")


def build_training_kit(config: TrainConfig, kit: SimpleNamespace, params: Iterable[Any],
                       steps_total: int) -> tuple[Any, Any, Any]:
    """``(optimizer, loss_fn, scheduler or None)`` for ``params`` from a layer family's training classes ``kit``
    (torch's or the NumPy engine's: the same names and arguments), the scheduler stepped once per batch over
    ``steps_total`` batches (``config.epochs`` epochs)."""
    params = list(params)
    common = {"lr": config.lr, "weight_decay": config.weight_decay}
    optimizer = {
        "sgd": lambda: kit.SGD(params, momentum=config.momentum, nesterov=config.nesterov, **common),
        "adam": lambda: kit.Adam(params, **common),
        "adamw": lambda: kit.AdamW(params, **common),
        "rmsprop": lambda: kit.RMSprop(params, momentum=config.momentum, **common),
    }[config.optimizer]()
    per_epoch = max(1, steps_total // config.epochs)
    warmup = config.warmup_epochs * per_epoch
    scheduler: Any = None
    if config.schedule == "onecycle":
        scheduler = kit.OneCycleLR(optimizer, max_lr=config.lr, total_steps=steps_total)
    elif config.schedule == "cosine":
        scheduler = kit.CosineAnnealingLR(optimizer, T_max=max(1, steps_total - warmup))
    elif config.schedule == "step":
        scheduler = kit.StepLR(optimizer, step_size=config.lr_step_epochs * per_epoch, gamma=config.lr_gamma)
    if warmup:
        ramp = kit.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=warmup)
        scheduler = ramp if scheduler is None else kit.SequentialLR(optimizer, [ramp, scheduler], milestones=[warmup])
    return optimizer, kit.CrossEntropyLoss(label_smoothing=config.label_smoothing), scheduler


def _families() -> tuple[str, ...]:
    from cnnlab.models import FAMILIES

    return tuple(FAMILIES)


@dataclass(frozen=True)
class Recipe:
    """A named starting point for ``cnnlab train``: its settings, what it is, and its smoke-test size."""

    name: str
    config: TrainConfig
    summary: str
    #: Overrides for quick runs (``cnnlab run --quick``): a few epochs on a few images.
    quick: dict[str, Any] = field(default_factory=dict)
    #: The validation accuracy the assignment expects after training with these settings, if it names one.
    expected_val_acc: float | None = None


_MNIST_QUICK = {"epochs": 2, "max_datapoints": 3000}

#: Named recipes; ``train`` starts from one and applies the user's overrides.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("mnist-seed", TrainConfig(model="mnist-cnn", engine="numpy", epochs=10, batch_size=50, lr=0.01,
                                         momentum=0.9, max_datapoints=10_000),
               "assignment 004 task 5: MNIST CNN, NumPy engine, SGD lr 0.01 momentum 0.9, batch 50, 10 epochs, the "
               "first 10000 images of each split (all of MNIST's val and test), pixels in [0, 1]", _MNIST_QUICK,
               expected_val_acc=0.96),
        Recipe("mnist-better", TrainConfig(model="mnist-cnn", engine="numpy", epochs=10, batch_size=50, lr=0.05,
                                           momentum=0.9, schedule="onecycle", normalization="standard",
                                           max_datapoints=10_000),
               "the same net and data, standardised inputs, one-cycle schedule (peak lr 0.05)", _MNIST_QUICK),
        Recipe("mlp-seed", TrainConfig(model="mnist-mlp", engine="numpy", epochs=10, batch_size=50, lr=0.05,
                                       momentum=0.9, max_datapoints=10_000),
               "assignment 004 task 6: the exercise's MLP baseline (784→30→10, ReLU), NumPy engine, SGD lr 0.05 "
               "momentum 0.9, batch 50, 10 epochs, the first 10000 images of each split, pixels in [0, 1]",
               _MNIST_QUICK),
        Recipe("mlp-shift", TrainConfig(model="mnist-mlp", engine="numpy", epochs=10, batch_size=50, lr=0.05,
                                        momentum=0.9, max_datapoints=10_000, augment="shift", augment_pixels=3),
               "the MLP baseline trained on digits shifted at random by up to ±3 px (the equivariance remedy)",
               _MNIST_QUICK),
        Recipe("cifar-lenet", TrainConfig(model="lenet", engine="torch", epochs=25, batch_size=64, lr=0.05,
                                          momentum=0.9, weight_decay=5e-4, schedule="onecycle",
                                          normalization="standard", augment="crop-flip", augment_pixels=4,
                                          channels_last=True),
               "assignment 000: LeNet on CIFAR-10 with torch.nn, SGD momentum 0.9, one-cycle (peak 0.05), weight decay "
               "5e-4, batch 64, crop+flip augmentation, 25 epochs, channels-last memory (on one thread 1.5x faster "
               "steps than NCHW, on two about the same)", {"epochs": 2, "max_datapoints": 8000}),
        Recipe("cifar-resnet", TrainConfig(model="cifar-resnet", engine="torch", epochs=8, batch_size=256, lr=0.2,
                                           momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="onecycle",
                                           normalization="standard", augment="crop-flip", augment_pixels=4,
                                           label_smoothing=0.1, channels_last=True),
               "the small ResNet (BatchNorm, residual blocks, global average pooling) on CIFAR-10 with torch.nn: "
               "SGD Nesterov momentum 0.9, one-cycle (peak 0.2), weight decay 5e-4, label smoothing 0.1, batch 256, "
               "crop+flip augmentation, 8 epochs, channels-last memory (about 82% test accuracy; minutes on a "
               "2-core CPU)", {"epochs": 2, "max_datapoints": 4000}, expected_val_acc=0.8),
    )
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``ValueError`` listing the choices otherwise."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def recipe(name: str, *, quick: bool = False, **overrides: Any) -> TrainConfig:
    """The named recipe's config, made small when ``quick``, with ``overrides`` applied (``None`` values ignored).

    A recipe's ``channels_last`` is a torch memory layout: moving the recipe to the NumPy engine drops it (unless
    the override asks for it, which is then the usual error)."""
    entry = get_recipe(name)
    config = replace(entry.config, **entry.quick) if quick else entry.config
    given = {k: v for k, v in overrides.items() if v is not None}
    if "engine" in given and "channels_last" not in given and not get_family(given["engine"]).autograd:
        given["channels_last"] = False
    return replace(config, **given)
