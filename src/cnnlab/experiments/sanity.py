"""CS231n's two sanity checks before any long training, run on every network in both engines:

1. **The initial loss.** A freshly initialised classifier knows nothing, so its softmax is close to uniform over
   the ``K`` classes and its cross-entropy close to ``-ln(1/K) = ln K`` (``ln 10 = 2.303`` here). For logits that
   vary a little around their mean (standard deviation ``s`` across the classes) the expected loss is about
   ``ln K + s^2 / 2``, so the excess over ``ln K`` measures how confident the untrained network already is; the
   check asks for logits spread by less than 1 (an excess below :data:`MAX_EXCESS` nats). A loss far above that
   means an initialisation that is confidently wrong before any training -- worth fixing first.
2. **Overfitting a tiny subset.** A network that can learn at all memorises 100 training images within a few
   dozen full-batch steps (about 100% training accuracy, loss near 0). If it cannot, something is broken (a
   backward pass, a learning rate, frozen parameters) and a long run would only hide it.

Both checks run the same initial weights in every engine (the NumPy engine's, loaded into torch), so they also show
the engines computing the same numbers: the same initial loss, the same overfitting curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from cnnlab import data
from cnnlab.experiments.base import Context, Experiment
from cnnlab.models import FAMILIES, MODELS, Model, build_model, get_family, get_model_info
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.options import check_options, option
from cnnlab.training import evaluate, fit

#: The classifiers' classes (both datasets have 10).
CLASSES = 10
#: An initial loss at most this far above ln(K) counts as "about ln K": logits spread by less than 1 (s^2/2 = 0.5).
MAX_EXCESS = 0.5
#: Training accuracy that counts as "memorised".
MEMORISED = 0.99
#: Steps between the evaluation-mode checks of an overfitting run.
CHECK_EVERY = 5


@dataclass(frozen=True)
class SanitySettings:
    """Which networks and engines are checked, on how many images, and the overfitting run's budget."""

    models: tuple[str, ...] = option(("lenet", "mnist-cnn", "mnist-mlp", "cifar-resnet", "bnres-plain",
                                      "bnres-bn-skip"), "Networks whose initial loss is measured.",
                                     choices=lambda: tuple(MODELS))
    engines: tuple[str, ...] = option(("torch", "numpy"), "Engines that run every check (same initial weights).",
                                      choices=lambda: tuple(FAMILIES))
    loss_images: int = option(256, "Training images the initial loss is averaged over.", minimum=2)
    overfit_models: tuple[str, ...] = option(("lenet", "cifar-resnet"), "Networks that must memorise the subset.",
                                             choices=lambda: tuple(MODELS))
    overfit_images: int = option(100, "Training images to memorise.", minimum=2)
    overfit_steps: int = option(60, "Most full-batch Adam steps of an overfitting run (it stops once the images "
                                "are memorised).", minimum=1)
    overfit_lr: float = option(3e-3, "Adam learning rate of the overfitting run.", minimum=0, min_open=True)
    seed: int = option(0, "Seed of the initial weights.", minimum=0)

    def __post_init__(self) -> None:
        check_options(self)
        for name in ("models", "engines"):
            if not getattr(self, name):
                raise ValueError(f"--{name}: give at least one")

    def quick(self) -> SanitySettings:
        return replace(self, models=("lenet", "cifar-resnet"), loss_images=100, overfit_models=("lenet",),
                       overfit_images=20, overfit_steps=10)


@dataclass
class InitialLoss:
    """The cross-entropy of a freshly initialised network on ``images`` training images (training mode), and the
    spread of its logits (standard deviation across the classes, averaged over the images)."""

    model: str
    engine: str
    loss: float
    expected: float
    logit_std: float
    images: int

    @property
    def ok(self) -> bool:
        return abs(self.loss - self.expected) <= MAX_EXCESS


@dataclass
class OverfitRun:
    """Full-batch training on a few images until they are memorised (the training accuracy of a step, checked every
    :data:`CHECK_EVERY` steps, at least :data:`MEMORISED`) or the step budget is spent: loss and accuracy of each
    step (training mode), and afterwards in evaluation mode, where BatchNorm uses its running statistics -- which
    lag behind the batch statistics for a while (an average over the steps with momentum 0.1)."""

    model: str
    engine: str
    images: int
    loss: list[float]
    accuracy: list[float]
    final_eval_accuracy: float
    final_eval_loss: float
    seconds: float

    @property
    def memorised(self) -> bool:
        return bool(self.accuracy) and self.accuracy[-1] >= MEMORISED

    @property
    def steps_to_memorise(self) -> int | None:
        """The first step whose batch was classified at least :data:`MEMORISED` right, if any."""
        return next((step for step, acc in enumerate(self.accuracy, start=1) if acc >= MEMORISED), None)


@dataclass
class SanityResult:
    initial: list[InitialLoss]
    overfit: list[OverfitRun]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"initial": [{**vars(r), "ok": r.ok} for r in self.initial],
                "overfit": [{**vars(r), "memorised": r.memorised, "steps_to_memorise": r.steps_to_memorise}
                            for r in self.overfit], "settings": self.settings}


def _images(context: Context, model: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` training images of the model's dataset, standardised per channel."""
    dataset = context.dataset(get_model_info(model).dataset, "train", max_datapoints=count)
    return data.prepare(dataset, normalization="standard")


def _twins(model: str, engines: tuple[str, ...], seed: int) -> dict[str, Model]:
    """``model`` built in every engine with one set of initial weights (seeded in the first engine)."""
    first = build_model(model, engines[0], seed=seed)
    built = {engines[0]: first}
    for engine in engines[1:]:
        twin = build_model(model, engine)
        state = first.state_dict()
        twin.load_state_dict(to_torch_state_dict(state) if get_family(engine).autograd else state)
        built[engine] = twin
    return built


def _initial_loss(network: Model, engine: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy in training mode (what the first training step sees) and the logits' spread across the
    classes."""
    kit = get_family(engine).classes()
    network.train()
    if get_family(engine).autograd:
        assert isinstance(network, torch.nn.Module)
        with torch.no_grad():
            logits_t = network(torch.from_numpy(x))
            loss = float(kit.CrossEntropyLoss()(logits_t, torch.from_numpy(y)).item())
        logits = logits_t.numpy()
    else:
        logits = np.asarray(network(x))
        loss = float(kit.CrossEntropyLoss()(logits, y))
    return loss, float(logits.std(axis=1).mean())


def _overfit(model: str, engine: str, network: Model, x: np.ndarray, y: np.ndarray, settings: SanitySettings,
             device: str) -> OverfitRun:
    family = get_family(engine)
    kit = family.classes()
    loss_fn = kit.CrossEntropyLoss()
    optimizer = kit.Adam(network.parameters(), lr=settings.overfit_lr)
    where = device if family.autograd else None
    losses: list[float] = []
    accuracies: list[float] = []
    seconds = 0.0
    while len(losses) < settings.overfit_steps:  # one fit "epoch" is one full-batch step
        steps = min(CHECK_EVERY, settings.overfit_steps - len(losses))
        history = fit(network, loss_fn, optimizer, (x, y), epochs=steps, batch_size=len(y),
                      seed=settings.seed + len(losses), device=where, progress=False)
        losses += history.train_loss
        accuracies += history.train_acc
        seconds += history.seconds
        if accuracies[-1] >= MEMORISED:
            break
    final_loss, final_acc = evaluate(network, loss_fn, (x, y), device=where)
    return OverfitRun(model, engine, len(y), losses, accuracies, final_acc, final_loss, seconds)


def run(settings: SanitySettings, context: Context) -> SanityResult:
    """Initial loss of every network in every engine; then the overfitting runs (seconds each, longer for the
    NumPy engine's cifar-resnet)."""
    initial = []
    for model in settings.models:
        x, y = _images(context, model, settings.loss_images)
        for engine, network in _twins(model, settings.engines, settings.seed).items():
            loss, spread = _initial_loss(network, engine, x, y)
            initial.append(InitialLoss(model, engine, loss, math.log(CLASSES), spread, len(y)))
    overfit = []
    for model in settings.overfit_models:
        x, y = _images(context, model, settings.overfit_images)
        for engine, network in _twins(model, settings.engines, settings.seed).items():
            overfit.append(_overfit(model, engine, network, x, y, settings, context.device))
    summary = {"initial-loss images": settings.loss_images, "overfit images": settings.overfit_images,
               "overfit steps": settings.overfit_steps, "overfit optimizer": f"Adam lr {settings.overfit_lr:g}",
               "seed": settings.seed}
    return SanityResult(initial, overfit, summary)


EXPERIMENT = Experiment("sanity", "Sanity checks: the initial loss and overfitting a tiny subset",
                        "CS231n's checks before a long run: every network's initial loss against ln(10), and "
                        "memorising 100 training images, in every engine.", SanitySettings, run)
