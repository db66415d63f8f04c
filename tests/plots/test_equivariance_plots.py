"""The equivariance figures are valid, non-blank PNGs of sensible size and show what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.experiments.equivariance import EquivarianceSettings, run_equivariance
from cnnlab.models import build_model
from cnnlab.plots.equivariance import curves_figure, example_figure, layers_figure, save_figures


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    images = np.zeros((24, 1, 28, 28), dtype=np.uint8)
    images[:, :, 6:22, 6:22] = rng.integers(0, 256, (24, 1, 16, 16))
    labels = rng.integers(0, 10, 24)
    models = {"mlp": build_model("mnist-mlp", "torch", seed=0), "cnn": build_model("mnist-cnn", "numpy", seed=0),
              "mlp_augmented": build_model("mnist-mlp", "torch", seed=1)}
    settings = EquivarianceSettings(max_shift=3, probe_images=6, probe_shifts=((2, 2), (4, 4)))
    return run_equivariance(settings, models=models, val=(images, labels))


def test_save_figures_writes_three_pngs(result, tmp_path, check_png):
    paths = save_figures(result, tmp_path)
    assert set(paths) == {"curves", "layers", "example"}
    for path in paths.values():
        check_png(path)


def test_curves_figure_has_a_panel_per_direction_and_a_line_per_model(result):
    fig = curves_figure(result)
    axes = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in axes] == ["shift right (dx)", "shift down (dy)", "shift right and down (dx = dy)"]
    for ax in axes:
        lines = [line for line in ax.lines if len(line.get_xdata()) > 2]
        assert len(lines) == 3
        assert list(lines[0].get_xdata()) == [0, 1, 2, 3]


def test_layers_figure_has_a_panel_per_probe_shift(result):
    fig = layers_figure(result)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input shifted 2 px right, 2 px down", "input shifted 4 px right, 4 px down"]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[0].startswith("conv1") and ticks[-1] == "fc1\n(output)"
    with pytest.raises(ValueError, match="no per-layer"):
        layers_figure(result, model="resnet")


def test_example_figure_shows_image_shifted_image_and_maps(result):
    fig = example_figure(result, channels=2)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3 + 2 * 2 * 4  # image row, then 2 channels of conv1 and of conv2, 4 panels each
    assert images[6].get_title() == "|conv1(T x) - T' conv1(x)|"
    assert "not whole" in images[3 + 8 + 2].get_title()  # conv2: 2 px is half a cell
    # conv1 is exactly equivariant on images with an empty margin: its difference panels are zero.
    for ax in (images[6], images[10]):
        assert np.abs(np.asarray(ax.images[0].get_array())).max() < 1e-5
    assert np.abs(np.asarray(images[14].images[0].get_array())).max() > 1e-3
