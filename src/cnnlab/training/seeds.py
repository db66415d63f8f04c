"""Repeated runs: one independent training per seed, and the spread of their accuracies.

A single run's accuracy depends on its seed (initial weights, shuffling, augmentation); how much, only repeats tell.
``cnnlab train --seeds 0,1,2`` trains one run per seed, each an independent process into ``OUT/seed-S``
(:func:`seed_folder`), so any scheduler could run them instead, and summarises them (:func:`seed_summary`) as the
mean and the sample standard deviation (``ddof=1``) of every accuracy (:data:`ACCURACIES`) over the seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.formatting import percent

if TYPE_CHECKING:
    from cnnlab.training.run import TrainResult

#: The accuracies of a run that repeats summarise, with their names in tables.
ACCURACIES = {"final_train_acc": "final train acc", "final_val_acc": "final val acc", "test_acc": "test acc"}
MAX_SEED = 2**32 - 1


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` (commas or spaces) -> ``(0, 1, 2)``; ``ValueError`` unless at least two different whole numbers
    in ``0..2**32-1``."""
    parts = text.replace(",", " ").split()
    try:
        seeds = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(f"expected seeds separated by commas, like 0,1,2, got {text!r}") from None
    if len(seeds) < 2:
        raise ValueError(f"got {text!r}: repeats need at least two seeds, like 0,1,2 (one run: --seed)")
    bad = [seed for seed in seeds if not 0 <= seed <= MAX_SEED]
    if bad:
        raise ValueError(f"seed {bad[0]} is out of range: seeds are whole numbers from 0 to {MAX_SEED}")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ValueError(f"seed {repeated[0]} is given twice: the same seed trains the same run")
    return seeds


def seed_folder(out_dir: str | Path, seed: int) -> Path:
    """Where the run of ``seed`` goes inside a repeated run's folder: ``out_dir/seed-<seed>``."""
    return Path(out_dir) / f"seed-{seed}"


def final_accuracies(result: TrainResult | Mapping[str, Any]) -> dict[str, float | None]:
    """A run's :data:`ACCURACIES` (``None`` where it has none, e.g. no epoch finished): from a
    :class:`~cnnlab.training.TrainResult` or its ``to_dict()`` (a run's ``results.json``)."""
    data = result if isinstance(result, Mapping) else result.to_dict()
    records = data["history"]["records"]
    last = records[-1] if records else {}
    return {"final_train_acc": last.get("train_acc"), "final_val_acc": last.get("val_acc"),
            "test_acc": data.get("test_acc")}


@dataclass(frozen=True)
class Spread:
    """The mean and sample standard deviation (``ddof=1``) of one accuracy over repeated runs."""

    mean: float
    std: float
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    def describe(self, digits: int = 2) -> str:
        """``"96.45% ± 0.31%"``."""
        return f"{percent(self.mean, digits)} ± {percent(self.std, digits)}"

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}


def spread(values: Sequence[float]) -> Spread:
    """:class:`Spread` of ``values`` (at least two): ``mean = sum(v) / n``,
    ``std = sqrt(sum((v - mean)^2) / (n - 1))``."""
    if len(values) < 2:
        raise ValueError(f"a spread needs at least two values, got {len(values)}")
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return Spread(mean, std, tuple(float(v) for v in values))


def seed_spreads(runs: Mapping[int, TrainResult | Mapping[str, Any]]) -> dict[str, Spread]:
    """Each of :data:`ACCURACIES` over the runs of every seed (left out where a run lacks it)."""
    accuracies = [final_accuracies(run) for run in runs.values()]
    spreads = {}
    for key in ACCURACIES:
        values = [acc[key] for acc in accuracies]
        if all(value is not None for value in values):
            spreads[key] = spread([float(value) for value in values if value is not None])
    return spreads


def seed_summary(runs: Mapping[int, Mapping[str, Any]], folders: Mapping[int, Path],
                 commands: Mapping[int, str]) -> dict[str, Any]:
    """The ``results.json`` of a repeated run: the seeds, each run's folder, command and accuracies, the settings
    they share (the first run's, without its seed) and ``summary``: each accuracy's mean, std, n and values."""
    first = next(iter(runs.values()))
    config = {key: value for key, value in first["config"].items() if key != "seed"}
    return {
        "seeds": list(runs), "config": config,
        "runs": {str(seed): {"folder": str(folders[seed]), "command": commands[seed], **final_accuracies(run)}
                 for seed, run in runs.items()},
        "summary": {key: value.to_dict() for key, value in seed_spreads(runs).items()},
    }
