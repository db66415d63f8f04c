"""The feature-map figures are valid, non-blank PNGs of sensible size, for RGB (LeNet) and grey (MNIST CNN)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.experiments.featuremaps import FeatureMapsRun, feature_maps
from cnnlab.models import build_model
from cnnlab.plots.featuremaps import feature_maps_figure, figures, filters_figure, normalize_filters, save_figures


@pytest.mark.parametrize(("name", "shape"), [("lenet", (3, 3, 32, 32)), ("mnist-cnn", (3, 1, 28, 28))])
def test_save_figures_writes_both_pngs(tmp_path, check_png, name, shape):
    model = build_model(name, "torch", seed=0)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    result = feature_maps(model, x, labels=[0, 1, 2], model_name=name)
    paths = save_figures(result, tmp_path)
    assert set(paths) == {"feature_maps", "filters"}
    grid_w, grid_h = check_png(paths["feature_maps"])
    assert grid_h > grid_w  # rows = layer x channel (+ input), columns = 3 images
    check_png(paths["filters"], min_size=80)
    assert paths == {"feature_maps": tmp_path / "featuremaps_grid.png", "filters": tmp_path / "featuremaps_filters.png"}


def test_figures_of_the_experiment_are_those_of_its_maps(tmp_path, check_png):
    result = feature_maps(build_model("mnist-cnn", "numpy", seed=0),
                          np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32))
    paths = figures(FeatureMapsRun(result, tmp_path / "run"), tmp_path / "out")
    assert paths == {"feature_maps": tmp_path / "out" / "featuremaps_grid.png",
                     "filters": tmp_path / "out" / "featuremaps_filters.png"}
    for path in paths.values():
        check_png(path, min_size=80)


def test_grid_has_one_row_per_layer_and_channel_plus_the_input():
    model = build_model("lenet", "torch", seed=0)
    result = feature_maps(model, np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32))
    fig = feature_maps_figure(result)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 3 * (1 + 4 * 5)
    labels = [ax.get_ylabel() for ax in image_axes if ax.get_ylabel()]
    assert labels[0] == "input" and labels[1].startswith("conv1 (conv)\nchannel 0")
    assert any(label.startswith("pool2 (pool)\nchannel 4") for label in labels)


def test_filters_figure_shows_rgb_filters_in_colour():
    model = build_model("lenet", "torch", seed=0)
    result = feature_maps(model, np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32))
    fig = filters_figure(result)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 8 and shown[0].shape == (5, 5, 3)
    assert all(float(np.min(a)) >= 0 and float(np.max(a)) <= 1 for a in shown)


def test_normalize_filters_keeps_the_channels_of_a_filter_together():
    w = np.zeros((2, 3, 1, 1))
    w[0, :, 0, 0] = [1.0, 2.0, 3.0]
    out = normalize_filters(w)
    np.testing.assert_allclose(out[0, :, 0, 0], [0, 0.5, 1])
    assert (out[1] == 0).all()
    with pytest.raises(ValueError, match=r"filters must be \(out, in, kh, kw\)"):
        normalize_filters(np.zeros((3, 3)))
