"""The feature-map figures are valid, non-blank PNGs of sensible size, for RGB (LeNet) and grey (MNIST CNN)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.experiments.featuremaps import FeatureMapsRun, feature_maps
from cnnlab.models import build_model
from cnnlab.plots.featuremaps import figures, filters_figure, layer_figure, normalize_filters, save_figures


@pytest.mark.parametrize(("name", "shape", "layers"), [("lenet", (3, 3, 32, 32), ["conv1", "pool1", "conv2", "pool2"]),
                                                   ("mnist-cnn", (3, 1, 28, 28), ["conv1", "conv2"])])
def test_save_figures_writes_a_png_per_layer_and_the_filters(tmp_path, check_png, name, shape, layers):
    model = build_model(name, "torch", seed=0)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    result = feature_maps(model, x, labels=[0, 1, 2], model_name=name)
    paths = save_figures(result, tmp_path)
    assert paths == {**{f"maps-{layer}": tmp_path / f"featuremaps_{layer}.png" for layer in layers},
                     "filters": tmp_path / "featuremaps_filters.png"}
    assert list(paths)[:-1] == [f"maps-{layer}" for layer in layers]  # in network order
    for layer in layers:
        width, height = check_png(paths[f"maps-{layer}"])
        assert width > height  # a row per image (3), a column per channel (5) after the input
    check_png(paths["filters"], min_size=80)


def test_figures_of_the_experiment_are_those_of_its_maps(tmp_path, check_png):
    result = feature_maps(build_model("mnist-cnn", "numpy", seed=0),
                          np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32))
    paths = figures(FeatureMapsRun(result, tmp_path / "run"), tmp_path / "out")
    assert paths == {"maps-conv1": tmp_path / "out" / "featuremaps_conv1.png",
                     "maps-conv2": tmp_path / "out" / "featuremaps_conv2.png",
                     "filters": tmp_path / "out" / "featuremaps_filters.png"}
    for path in paths.values():
        check_png(path, min_size=80)


def test_layer_figure_has_a_row_per_image_and_a_column_per_channel():
    model = build_model("lenet", "torch", seed=0)
    result = feature_maps(model, np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32), labels=[0, 1, 2],
                          class_names=[f"class {c}" for c in range(10)])
    fig = layer_figure(result, 2)  # conv2
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 3 * (1 + 5)
    assert [ax.get_title() for ax in image_axes[:6]] == ["input"] + [f"channel {c}" for c in range(5)]
    assert [ax.get_ylabel() for ax in image_axes[::6]] == [result.image_title(n) for n in range(3)]
    assert "label: class 1" in image_axes[6].get_ylabel()
    np.testing.assert_array_equal(image_axes[6 + 3].images[0].get_array(), result.layers[2].maps[1, 2])
    assert fig.get_suptitle().startswith("conv2 (conv), output 16 x 10 x 10: the first 5 channels")


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
