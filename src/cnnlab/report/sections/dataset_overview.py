"""Report section of the dataset overview: a table of the splits and the grid of samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.report.document import Figure, Section, Table

if TYPE_CHECKING:
    from cnnlab.experiments.dataset_overview import DatasetOverviewResult


def section(result: DatasetOverviewResult, figures: dict[str, Path]) -> Section:
    """Images, shape, class balance, mean pixel and load time per split; the sample grid."""
    rows = [[s.split, s.images, " x ".join(map(str, s.shape)), s.fewest_per_class, s.most_per_class, s.mean_pixel,
             s.seconds] for s in result.splits]
    return Section(
        intro=f"Read from {result.root} (torchvision's layout).",
        tables=[Table(["split", "images", "C x H x W", "fewest per class", "most per class", "mean pixel (0-255)",
                       "load s"], rows)],
        figures=[Figure(path, "The first training images with their class names") for path in figures.values()],
    )
