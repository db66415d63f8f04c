"""Sample grids for grayscale (MNIST) and RGB (CIFAR-10) images; bad shapes, dtypes and labels rejected."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.plots.samples import plot_samples

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def images(n: int, channels: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)


def test_grayscale_grid(tmp_path, check_png):
    labels = np.arange(12) % 10
    width, height = check_png(plot_samples(images(12, 1, 28), labels, tmp_path / "mnist.png"))
    assert width > height  # 8 per row, 2 rows


def test_rgb_grid_with_class_names(tmp_path, check_png):
    x = images(6, 3, 32, seed=1)
    check_png(plot_samples(x, np.arange(6), tmp_path / "cifar.png", class_names=CIFAR, ncols=3, title="CIFAR-10"))


def test_float_images_in_unit_range_and_n(tmp_path, check_png):
    x = images(30, 1, 8).astype(np.float32) / 255
    check_png(plot_samples(x, np.zeros(30, dtype=np.int64), tmp_path / "f.png", n=5), min_size=50)


@pytest.mark.parametrize(("x", "labels", "kwargs", "message"), [
    (np.zeros((4, 28, 28), np.uint8), np.zeros(4, int), {}, r"x\[:, None\]"),
    (np.zeros((4, 784), np.uint8), np.zeros(4, int), {}, "Flattened images"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, int), {}, "channels-last"),
    (np.zeros((4, 2, 8, 8), np.uint8), np.zeros(4, int), {}, "1 \\(grayscale\\) or 3 \\(RGB\\)"),
    (np.zeros((4, 1, 8, 8), np.float32) - 0.5, np.zeros(4, int), {}, "float images must lie in \\[0, 1\\]"),
    (np.full((4, 1, 8, 8), 300), np.zeros(4, int), {}, "0..255"),
    (np.zeros((4, 1, 8, 8), np.uint8), np.zeros(3, int), {}, "one label per image"),
    (np.zeros((4, 1, 8, 8), np.uint8), np.zeros(4), {}, "integer class indices"),
    (np.zeros((4, 1, 8, 8), np.uint8), np.zeros(4, int), {"n": 5}, "n must be between 1 and"),
    (np.zeros((4, 1, 8, 8), np.uint8), np.zeros(4, int), {"ncols": 0}, "ncols must be at least 1"),
    (np.zeros((4, 1, 8, 8), np.uint8), np.full(4, 10), {"class_names": CIFAR}, "label 10 has no class name"),
    (np.zeros((0, 1, 8, 8), np.uint8), np.zeros(0, int), {}, "no pixels"),
])
def test_bad_input(tmp_path, x, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_samples(x, labels, tmp_path / "x.png", **kwargs)


def test_dataset_overview_draws_its_samples_with_class_names(tmp_path, check_png):
    from cnnlab.experiments.dataset_overview import DatasetOverviewResult
    from cnnlab.plots.dataset_overview import figures

    result = DatasetOverviewResult("cifar10", tmp_path, CIFAR, [], images(5, 3, 32), np.arange(5))
    paths = figures(result, tmp_path)
    assert paths == {"samples": tmp_path / "cifar10-samples.png"}
    check_png(paths["samples"])
