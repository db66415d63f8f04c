"""Figure of the dataset overview: a grid of the first training images with their class names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.plots.samples import plot_samples

if TYPE_CHECKING:
    from cnnlab.experiments.dataset_overview import DatasetOverviewResult


def figures(result: DatasetOverviewResult, folder: Path) -> dict[str, Path]:
    """``samples``: ``<dataset>-samples.png`` in ``folder``."""
    n = len(result.sample_labels)
    path = plot_samples(result.sample_images, result.sample_labels, Path(folder) / f"{result.dataset}-samples.png",
                        class_names=result.classes, n=n, title=f"{result.dataset}: the first {n} training images")
    return {"samples": path}
