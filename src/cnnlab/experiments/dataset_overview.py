"""A first look at a dataset (assignment 004 task 2, assignment 000 task 1.0): every split's size, image shape, class
balance, mean pixel and load time, and the first training images for a grid of samples."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import data
from cnnlab.experiments.base import Context, Experiment
from cnnlab.options import Validated, option


@dataclass(frozen=True)
class DatasetOverviewSettings(Validated):
    """Which dataset, and how many training images to show."""

    dataset: str = option("mnist", "Dataset.", choices=lambda: tuple(data.DATASETS))
    samples: int = option(24, "Training images to show.", minimum=1, maximum=200)


@dataclass(frozen=True)
class SplitSummary:
    """One split: images, ``(C, H, W)``, fewest and most images of a class, mean pixel (0-255), load seconds."""

    split: str
    images: int
    shape: tuple[int, int, int]
    fewest_per_class: int
    most_per_class: int
    mean_pixel: float
    seconds: float


@dataclass
class DatasetOverviewResult:
    """The splits of one dataset and the first training images (uint8 ``(k, C, H, W)``) with their labels."""

    dataset: str
    root: Path
    classes: list[str]
    splits: list[SplitSummary]
    sample_images: np.ndarray = field(repr=False)
    sample_labels: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "root": str(self.root), "classes": self.classes,
                "splits": [vars(s) | {"shape": list(s.shape)} for s in self.splits],
                "samples": len(self.sample_labels)}


def run(settings: DatasetOverviewSettings, context: Context) -> DatasetOverviewResult:
    """Load train / val / test of ``settings.dataset`` (through the run's data cache) and summarise them."""
    splits = []
    train: data.Dataset | None = None
    for split in data.SPLITS:
        start = time.perf_counter()
        ds = context.dataset(settings.dataset, split)
        seconds = time.perf_counter() - start
        counts = ds.class_counts()
        splits.append(SplitSummary(split, len(ds), ds.image_shape, int(counts.min()), int(counts.max()),
                                   float(ds.images.mean()), seconds))
        if split == "train":
            train = ds
    assert train is not None
    k = min(settings.samples, len(train))
    return DatasetOverviewResult(settings.dataset, data.resolve_root(context.data_root), list(train.classes), splits,
                                 train.images[:k].copy(), train.labels[:k].copy())


EXPERIMENT = Experiment("dataset-overview", "Dataset overview", "Split sizes, class balance and sample images of "
                        "a dataset.", DatasetOverviewSettings, run)
