"""Training curves as in the assignments: loss and accuracy per epoch, training and validation, one or several runs.

A *history* is anything with per-epoch lists ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` — as
attributes (:class:`cnnlab.training.History`) or as keys of a mapping (e.g. a results JSON read back). Validation
entries may be ``None`` (epochs without validation); missing or empty lists are simply not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator, PercentFormatter

from cnnlab.plots.style import COLORS, WIDTH, new_figure, save_figure

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


def _series(history: Any, name: str, label: str) -> np.ndarray:
    """One metric of a history as a float array (``None`` -> NaN, so matplotlib leaves a gap)."""
    values = history.get(name) if isinstance(history, Mapping) else getattr(history, name, None)
    if values is None:
        return np.zeros(0)
    try:
        array = np.array([math.nan if v is None else float(v) for v in values], dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"plot_histories: {label}{name} must be a list of numbers (one per epoch): {error}") from None
    return array


def plot_histories(runs: Mapping[str, Any], path: str | Path, *, title: str = "") -> Path:
    """Loss (left) and accuracy (right) per epoch for several labelled runs overlaid, saved as a PNG at ``path``.

    Each run has its own colour; training is drawn solid, validation dashed. Accuracies in [0, 1] are shown as
    percentages. Raises ``ValueError`` if there is no run or a run has no training loss.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("plot_histories: give a non-empty mapping {label: history}")
    fig, axes = new_figure(1, 2, width=WIDTH)
    loss_ax, acc_ax = axes[0]
    all_acc: list[np.ndarray] = []
    for index, (run_label, history) in enumerate(runs.items()):
        where = f"run {run_label!r}: " if run_label else ""
        data = {name: _series(history, name, where) for name in METRICS}
        if data["train_loss"].size == 0:
            raise ValueError(f"plot_histories: {where}no train_loss values (expected a History or a mapping with "
                             f"per-epoch lists {', '.join(METRICS)})")
        color = COLORS[index % len(COLORS)]
        prefix = f"{run_label}: " if run_label else ""
        for ax, metric in ((loss_ax, "loss"), (acc_ax, "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                values = data[f"{split}_{metric}"]
                if values.size == 0 or np.all(np.isnan(values)):
                    continue
                epochs = np.arange(1, values.size + 1)
                name = "training" if split == "train" else "validation"
                ax.plot(epochs, values, style, color=color, marker="o" if values.size <= 30 else None,
                        markersize=3, label=f"{prefix}{name}")
                if metric == "acc":
                    all_acc.append(values)
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="loss")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    if all_acc:
        finite = np.concatenate(all_acc)
        finite = finite[np.isfinite(finite)]
        if finite.size and finite.min() >= 0 and finite.max() <= 1:
            acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    else:
        acc_ax.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center", transform=acc_ax.transAxes)
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend(frameon=False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_history(history: Any, path: str | Path, *, title: str = "") -> Path:
    """Loss and accuracy curves of one run (training solid, validation dashed), saved as a PNG at ``path``."""
    return plot_histories({"": history}, path, title=title)
