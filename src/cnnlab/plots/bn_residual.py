"""Figures of the BatchNorm/residual study: the curves of the four variants at every learning rate, and the final
test accuracy against the learning rate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import MaxNLocator, PercentFormatter

from cnnlab.plots.style import COLORS, ROW_HEIGHT, WIDTH, new_figure, save_figure

if TYPE_CHECKING:
    from cnnlab.experiments.bn_residual import BnResidualResult


def _series(values: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def plot_curves(result: BnResidualResult, path: Path) -> Path:
    """Training loss (top) and test accuracy (bottom) per epoch; one column per learning rate, one colour per
    variant. A diverged run's line stops where the loss became NaN (marked with an x)."""
    from cnnlab.experiments.bn_residual import VARIANTS

    lrs = list(dict.fromkeys(r.lr for r in result.runs))
    fig, axes = new_figure(2, len(lrs), width=max(WIDTH, 3.4 * len(lrs)), height=2 * ROW_HEIGHT, squeeze=False)
    for column, lr in enumerate(lrs):
        loss_ax, acc_ax = axes[0][column], axes[1][column]
        for index, variant in enumerate(VARIANTS):
            run = result.run_for(variant, lr)
            color, label = COLORS[index % len(COLORS)], VARIANTS[variant][2]
            epochs = np.arange(1, len(run.train_loss) + 1)
            loss_ax.plot(epochs, run.train_loss, "-o", color=color, markersize=3, label=label)
            acc_ax.plot(epochs, _series(run.test_acc), "-o", color=color, markersize=3, label=label)
            if run.diverged:
                loss_ax.plot([len(run.train_loss) + 1], [run.train_loss[-1] if run.train_loss else 2.3], "x",
                             color=color, markersize=8)
        loss_ax.set(title=f"lr {lr:g}", xlabel="epoch", ylabel="training loss" if column == 0 else None)
        acc_ax.set(xlabel="epoch", ylabel="test accuracy" if column == 0 else None, ylim=(0, 1))
        acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        for ax in (loss_ax, acc_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1][0].legend(frameon=False, loc="upper left")
    return save_figure(fig, path)


def plot_lr_sensitivity(result: BnResidualResult, path: Path) -> Path:
    """Final test accuracy against the learning rate (log scale), one line per variant; diverged runs at 0."""
    from cnnlab.experiments.bn_residual import VARIANTS

    lrs = sorted(dict.fromkeys(r.lr for r in result.runs))
    fig, axes = new_figure(1, 1, width=WIDTH * 0.6, height=ROW_HEIGHT)
    ax = axes[0][0]
    for index, variant in enumerate(VARIANTS):
        accuracy = [result.run_for(variant, lr).final_test_acc or 0.0 for lr in lrs]
        ax.plot(lrs, accuracy, "-o", color=COLORS[index % len(COLORS)], label=VARIANTS[variant][2])
    ax.set(xscale="log" if len(lrs) > 1 else "linear", xlabel="learning rate", ylabel="test accuracy",
           title="Sensitivity to the learning rate", ylim=(0, 1))
    ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    ax.minorticks_off()
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.legend(frameon=False)
    return save_figure(fig, path)


def figures(result: BnResidualResult, folder: Path) -> dict[str, Path]:
    """``curves`` and ``lr-sensitivity``."""
    return {"curves": plot_curves(result, Path(folder) / "curves.png"),
            "lr-sensitivity": plot_lr_sensitivity(result, Path(folder) / "lr-sensitivity.png")}
