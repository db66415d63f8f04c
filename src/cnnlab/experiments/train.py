"""The assignments' training runs as a report part (assignment 000 task 1.2: LeNet on CIFAR-10; assignment 004 task 5:
the CNN on MNIST): train one or more named recipes through the run's context, so later parts reuse the trained networks.

With ``seeds`` (``cnnlab run --seeds 0,1,2``) every recipe is trained once per seed and the part reports each
accuracy's mean ± sample std over them (:mod:`cnnlab.training.seeds`); the run of the context's seed (the first of
``--seeds``) lands in ``root/<recipe>`` and is the one later parts use, the others in ``root/<recipe>-seed-<S>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnlab.experiments.base import Context, Experiment
from cnnlab.options import Validated, option
from cnnlab.training import RECIPES, TrainResult
from cnnlab.training.seeds import MAX_SEED, Spread, final_accuracies, seed_spreads


@dataclass(frozen=True)
class TrainingSettings(Validated):
    """The recipes to train (see ``cnnlab train --help``), in order, and the seeds to repeat them with."""

    recipes: tuple[str, ...] = option(("mnist-seed",), "Recipes to train.", choices=lambda: tuple(RECIPES))
    seeds: tuple[int, ...] = option((), "Train every recipe once per seed and report mean ± std over them (none: once, "
                                        "with the run's seed).", minimum=0, maximum=MAX_SEED)

    def check(self) -> None:
        if not self.recipes:
            raise ValueError("--recipes: give at least one recipe")
        if len(self.seeds) == 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds {','.join(map(str, self.seeds))}: give at least two different seeds (one run: "
                             "--seed)")


@dataclass
class TrainingResult:
    """One finished training run per recipe, in order (the first seed's); with several seeds, every seed's run per
    recipe too (``seeds[recipe][seed]``)."""

    runs: dict[str, TrainResult]
    seeds: dict[str, dict[int, TrainResult]] = field(default_factory=dict)

    def spreads(self, name: str) -> dict[str, Spread]:
        """Each accuracy's mean ± std over the seeds of recipe ``name`` (empty when trained once)."""
        return seed_spreads(self.seeds[name]) if name in self.seeds else {}

    def to_dict(self) -> dict[str, Any]:
        out = {name: result.to_dict() for name, result in self.runs.items()}
        for name, runs in self.seeds.items():
            out[name]["seeds"] = {
                "runs": {str(seed): {"folder": str(run.out_dir), **final_accuracies(run)}
                         for seed, run in runs.items()},
                "summary": {key: spread.to_dict() for key, spread in self.spreads(name).items()}}
        return out


def _folder(name: str, seed: int, context: Context) -> str:
    """``<recipe>`` for the context's seed (the network later parts use), ``<recipe>-seed-<S>`` for the others."""
    return name if seed == context.seed else f"{name}-seed-{seed}"


def run(settings: TrainingSettings, context: Context) -> TrainingResult:
    """Train every recipe (small ones when the context is quick), once or once per seed; see the module docstring."""
    runs, seeds = {}, {}
    for name in settings.recipes:
        if settings.seeds:
            seeds[name] = {seed: _result(context.train(name, folder=_folder(name, seed, context), seed=seed).result)
                           for seed in settings.seeds}
            runs[name] = seeds[name][settings.seeds[0]]
        else:
            runs[name] = _result(context.train(name).result)
    return TrainingResult(runs, seeds)


def _result(result: TrainResult | None) -> TrainResult:
    assert result is not None  # trained just now (or earlier in this run), so its result is known
    return result


EXPERIMENT = Experiment("training", "Training", "Train the assignments' recipes and record their curves and test "
                        "accuracy.", TrainingSettings, run)
