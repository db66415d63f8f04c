"""What BatchNorm and residual connections buy, measured: the same nine-convolution CIFAR-10 net with and without
BatchNorm and with and without skip connections (the four ``bnres-*`` networks of :mod:`cnnlab.models.zoo`),
trained on the same images with the same budget and optimiser, at several learning rates.

What to expect (and what the report checks against the measurements): without normalisation or skips, the signal
and its gradient shrink layer by layer, so the plain deep net learns slowly and only in a narrow band of learning
rates (too large and it diverges); skip connections give the gradient a direct path (each block adds to its input
instead of replacing it); BatchNorm keeps every layer's activations at a fixed scale, which makes training fast and
tolerant of large learning rates. The numbers are what the explanation rests on: test accuracy after the same
budget, the curves, and the sensitivity to the learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cnnlab import data
from cnnlab.experiments.base import Context, Experiment
from cnnlab.models import FAMILIES, build_model, count_parameters, get_family
from cnnlab.options import check_options, option
from cnnlab.training import TrainingDiverged, evaluate, fit

#: The four variants: model name suffix -> (BatchNorm, skip connections, label).
VARIANTS: dict[str, tuple[bool, bool, str]] = {
    "plain": (False, False, "plain"),
    "bn": (True, False, "BatchNorm"),
    "skip": (False, True, "skip connections"),
    "bn-skip": (True, True, "BatchNorm + skips"),
}


@dataclass(frozen=True)
class BnResidualSettings:
    """The shared budget (images, epochs, batch) and the learning rates swept; sized for a 2-core CPU."""

    engine: str = option("torch", "Engine that trains the nets.", choices=lambda: tuple(FAMILIES))
    train_images: int = option(3000, "Training images (the first N of the training split).", minimum=10)
    test_images: int = option(1000, "Test images evaluated after every epoch.", minimum=10)
    epochs: int = option(4, "Epochs per run.", minimum=1)
    batch_size: int = option(128, "Images per mini-batch.", minimum=1)
    lrs: tuple[float, ...] = option((0.01, 0.05, 0.25), "Peak learning rates swept (SGD, momentum 0.9, cosine "
                                    "annealing to 0 over the run).", metavar="LR1,LR2,...")
    weight_decay: float = option(5e-4, "Weight decay.", minimum=0)
    seed: int = option(0, "Seed of the initial weights and the batch order.", minimum=0)

    def __post_init__(self) -> None:
        check_options(self)
        if not self.lrs or any(not lr > 0 for lr in self.lrs):
            raise ValueError(f"--lrs: give one or more positive learning rates, got {self.lrs}")

    def quick(self) -> BnResidualSettings:
        return replace(self, train_images=300, test_images=200, epochs=2, lrs=(0.05,))


@dataclass
class StudyRun:
    """One variant at one learning rate: per-epoch training loss and accuracy, test loss and accuracy, and whether
    the loss diverged (then the epochs before are kept and the test metrics are ``None``)."""

    variant: str
    lr: float
    train_loss: list[float]
    train_acc: list[float]
    test_loss: list[float | None]
    test_acc: list[float | None]
    final_test_acc: float | None
    diverged: bool
    seconds: float


@dataclass
class BnResidualResult:
    runs: list[StudyRun]
    parameters: dict[str, int]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [vars(r) for r in self.runs], "parameters": self.parameters, "settings": self.settings}

    def run_for(self, variant: str, lr: float) -> StudyRun:
        return next(r for r in self.runs if r.variant == variant and r.lr == lr)

    def best(self, variant: str) -> StudyRun:
        """The variant's run with the best final test accuracy (diverged runs count as 0)."""
        return max((r for r in self.runs if r.variant == variant), key=lambda r: r.final_test_acc or 0.0)


def _train(variant: str, lr: float, settings: BnResidualSettings, train: tuple[np.ndarray, np.ndarray],
           test: tuple[np.ndarray, np.ndarray], context: Context) -> StudyRun:
    family = get_family(settings.engine)
    kit = family.classes()
    model = build_model(f"bnres-{variant}", settings.engine, seed=settings.seed)
    optimizer = kit.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=settings.weight_decay)
    steps = settings.epochs * math.ceil(len(train[1]) / settings.batch_size)
    scheduler = kit.CosineAnnealingLR(optimizer, T_max=steps)
    device = context.device if family.autograd else None
    try:
        history = fit(model, kit.CrossEntropyLoss(), optimizer, train, test, epochs=settings.epochs,
                      batch_size=settings.batch_size, seed=settings.seed, scheduler=scheduler, device=device,
                      progress=context.progress, label=f"bnres-{variant} lr {lr:g}")
        diverged, final = False, evaluate(model, kit.CrossEntropyLoss(), test, device=device)[1]
    except TrainingDiverged as error:
        history, diverged, final = error.history, True, None
    return StudyRun(variant, lr, history.train_loss, history.train_acc, history.val_loss, history.val_acc, final,
                    diverged, history.seconds)


def run(settings: BnResidualSettings, context: Context) -> BnResidualResult:
    """Every variant at every learning rate, on the same images in the same order."""
    train = data.prepare(context.dataset("cifar10", "train", max_datapoints=settings.train_images), "standard")
    test = data.prepare(context.dataset("cifar10", "test", max_datapoints=settings.test_images), "standard")
    runs = [_train(variant, lr, settings, train, test, context) for variant in VARIANTS for lr in settings.lrs]
    parameters = {variant: count_parameters(build_model(f"bnres-{variant}", settings.engine)) for variant in VARIANTS}
    summary = {"engine": settings.engine, "training images": len(train[1]), "test images": len(test[1]),
               "epochs": settings.epochs, "batch": settings.batch_size,
               "optimizer": f"SGD momentum 0.9, cosine annealing, weight decay {settings.weight_decay:g}",
               "learning rates": ", ".join(f"{lr:g}" for lr in settings.lrs), "seed": settings.seed}
    return BnResidualResult(runs, parameters, summary)


EXPERIMENT = Experiment("bn-residual", "What BatchNorm and residual connections buy",
                        "The same deep CIFAR-10 net with and without BatchNorm and skip connections, the same data "
                        "and budget, at several learning rates: curves and test accuracy.", BnResidualSettings, run)
