"""The seeds' training runs as a report part (seed 000 task 1.2: LeNet on CIFAR-10; seed 004 task 5: the CNN on
MNIST): train one or more named recipes through the run's context, so later parts reuse the trained networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnlab.experiments.base import Context, Experiment
from cnnlab.options import Validated, option
from cnnlab.training import RECIPES, TrainResult


@dataclass(frozen=True)
class TrainingSettings(Validated):
    """The recipes to train (see ``cnnlab train --help``), in order."""

    recipes: tuple[str, ...] = option(("mnist-seed",), "Recipes to train.", choices=lambda: tuple(RECIPES))

    def check(self) -> None:
        if not self.recipes:
            raise ValueError("--recipes: give at least one recipe")


@dataclass
class TrainingResult:
    """One finished training run per recipe, in order."""

    runs: dict[str, TrainResult]

    def to_dict(self) -> dict[str, Any]:
        return {name: result.to_dict() for name, result in self.runs.items()}


def run(settings: TrainingSettings, context: Context) -> TrainingResult:
    """Train every recipe (small ones when the context is quick); each lands in ``root/<recipe>``."""
    runs = {}
    for name in settings.recipes:
        result = context.train(name).result
        assert result is not None  # trained just now (or earlier in this run), so its result is known
        runs[name] = result
    return TrainingResult(runs)


EXPERIMENT = Experiment("training", "Training", "Train the seeds' recipes and record their curves and test "
                        "accuracy.", TrainingSettings, run)
