"""Figures of the training part: each run's loss and accuracy curves (in its own folder) and, for several runs,
all of them overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.plots.curves import plot_histories, plot_history

if TYPE_CHECKING:
    from cnnlab.experiments.train import TrainingResult
    from cnnlab.training import TrainResult


def run_title(result: TrainResult) -> str:
    """``"lenet (torch engine) on cifar10"``: what a curve figure shows."""
    config = result.config
    return f"{config.model} ({config.engine} engine) on {config.dataset}"


def figures(result: TrainingResult, folder: Path) -> dict[str, Path]:
    """``curves-<recipe>`` for every run (``curves.png`` in the run's folder) and ``curves`` overlaying them."""
    finished = {name: run for name, run in result.runs.items() if run.history.epochs > 0}  # Ctrl-C in epoch 1
    out = {f"curves-{name}": plot_history(run.history, run.out_dir / "curves.png", title=run_title(run))
           for name, run in finished.items()}
    if len(finished) > 1:
        out["curves"] = plot_histories({name: run.history for name, run in finished.items()},
                                       Path(folder) / "curves.png", title=", ".join(finished))
    return out
