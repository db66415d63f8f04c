"""Figures of the sanity checks: every network's initial loss against ln(10), and the overfitting curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import MaxNLocator, PercentFormatter

from cnnlab.plots.style import COLORS, WIDTH, new_figure, save_figure

if TYPE_CHECKING:
    from cnnlab.experiments.sanity import SanityResult

#: Line style per engine (the same colour per network).
ENGINE_STYLES = {"torch": "-", "torch-own": "-.", "numpy": "--"}


def plot_initial_loss(result: SanityResult, path: Path) -> Path:
    """One bar per network and engine, the expected ln(10) as a line across."""
    models = list(dict.fromkeys(r.model for r in result.initial))
    engines = list(dict.fromkeys(r.engine for r in result.initial))
    values = {(r.model, r.engine): r.loss for r in result.initial}
    fig, axes = new_figure(1, 1, width=WIDTH, height=3.4)
    ax = axes[0][0]
    width = 0.8 / len(engines)
    for index, engine in enumerate(engines):
        positions = np.arange(len(models)) + (index - (len(engines) - 1) / 2) * width
        ax.bar(positions, [values.get((m, engine), np.nan) for m in models], width, label=engine,
               color=COLORS[index % len(COLORS)])
    expected = result.initial[0].expected
    ax.axhline(expected, color="black", linewidth=1, linestyle=":", label=f"ln 10 = {expected:.3f}")
    ax.set_xticks(np.arange(len(models)), models)
    ax.set(ylabel="initial cross-entropy", title="Loss of the untrained networks")
    ax.set_ylim(0, max(expected * 1.25, max(values.values()) * 1.1))
    ax.legend(frameon=False, loc="lower right")
    return save_figure(fig, path)


def plot_overfit(result: SanityResult, path: Path) -> Path:
    """Loss (log scale) and accuracy per full-batch step; colour = network, line style = engine."""
    fig, axes = new_figure(1, 2, width=WIDTH)
    loss_ax, acc_ax = axes[0]
    models = list(dict.fromkeys(r.model for r in result.overfit))
    for run in result.overfit:
        color = COLORS[models.index(run.model) % len(COLORS)]
        style = ENGINE_STYLES.get(run.engine, ":")
        steps = np.arange(1, len(run.loss) + 1)
        label = f"{run.model} ({run.engine})"
        loss_ax.plot(steps, np.maximum(run.loss, 1e-4), style, color=color, label=label)
        acc_ax.plot(steps, run.accuracy, style, color=color, label=label)
    loss_ax.set(yscale="log", xlabel="step (full batch)", ylabel="training loss", title="Loss")
    acc_ax.set(xlabel="step (full batch)", ylabel="training accuracy", title="Accuracy", ylim=(0, 1.02))
    acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc_ax.legend(frameon=False, loc="lower right")
    fig.suptitle(f"Memorising {result.overfit[0].images} training images")
    return save_figure(fig, path)


def figures(result: SanityResult, folder: Path) -> dict[str, Path]:
    """``initial-loss`` and (when overfitting ran) ``overfit``."""
    out = {"initial-loss": plot_initial_loss(result, Path(folder) / "initial-loss.png")}
    if result.overfit:
        out["overfit"] = plot_overfit(result, Path(folder) / "overfit.png")
    return out
