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
    """Each network's initial loss per engine (a marker each; the engines' markers overlap when they agree), the
    expected ln(10) as a line and the accepted band ln 10 +- :data:`~cnnlab.experiments.sanity.MAX_EXCESS` shaded."""
    from cnnlab.experiments.sanity import MAX_EXCESS

    models = list(dict.fromkeys(r.model for r in result.initial))
    engines = list(dict.fromkeys(r.engine for r in result.initial))
    expected = result.initial[0].expected
    fig, axes = new_figure(1, 1, width=WIDTH, height=3.4)
    ax = axes[0][0]
    ax.axhspan(expected - MAX_EXCESS, expected + MAX_EXCESS, color="#2ca02c", alpha=0.1,
               label=f"ln 10 ± {MAX_EXCESS}: about uniform")
    ax.axhline(expected, color="black", linewidth=1, linestyle=":", label=f"ln 10 = {expected:.3f}")
    markers = ("o", "x", "+", "s")
    for index, engine in enumerate(engines):
        losses = {r.model: r.loss for r in result.initial if r.engine == engine}
        ax.plot([models.index(m) for m in losses], list(losses.values()), markers[index % len(markers)],
                color=COLORS[index % len(COLORS)], markersize=9, label=engine, linestyle="none")
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_xlim(-0.5, len(models) - 0.5)
    ax.set(ylabel="initial cross-entropy", title="Loss of the untrained networks")
    ax.legend(frameon=False, ncol=len(engines) + 2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
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
