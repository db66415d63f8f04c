"""The equivariance figures are valid, non-blank PNGs of sensible size and show what they claim.

The result is built from the library's measurement of an untrained CNN on images with an empty margin (whose first
convolution is then exactly equivariant to a 2 px shift) and hand-written accuracy curves: no training needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import shift_images
from cnnlab.experiments.equivariance import (
    DIRECTIONS,
    NETWORKS,
    AccuracyCurve,
    EquivarianceResult,
    EquivarianceSettings,
    examples,
    measure_equivariance,
)
from cnnlab.models import build_model
from cnnlab.plots.equivariance import curves_figure, example_figure, figures, layers_figure, shifted_samples_figure

MODELS = ("mlp", "cnn", "mlp_augmented")


def margined_images(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((n, 1, 28, 28), dtype=np.float32)
    x[:, :, 6:22, 6:22] = rng.random((n, 1, 16, 16), dtype=np.float32)
    return x


def make_result(models: tuple[str, ...] = MODELS, with_cnn: bool = True) -> EquivarianceResult:
    settings = EquivarianceSettings(max_shift=3, probe_images=6, probe_shifts=((2, 2), (4, 4)),
                                    augmented_mlp="mlp_augmented" in models)
    x = margined_images()
    cnn = build_model("mnist-cnn", "numpy", seed=0)
    layers = {"mlp": [m for d in settings.probe_shifts
                      for m in measure_equivariance(build_model("mnist-mlp", "torch", seed=0), x, d)]}
    if with_cnn:
        layers["cnn"] = [m for d in settings.probe_shifts for m in measure_equivariance(cnn, x, d)]
    curves = [AccuracyCurve(key, direction, [0, 1, 2, 3], [0.9 - 0.1 * i * (k + 1) for i in range(4)])
              for k, key in enumerate(models) for direction in DIRECTIONS]
    digits = (255 * x[:4]).astype(np.uint8)
    return EquivarianceResult(
        settings=settings, accuracy={key: {"original": 0.9, "shifted": 0.8} for key in models}, curves=curves,
        layers=layers, histories={}, examples=examples(cnn, x, settings.shift) if with_cnn else [], seconds={},
        n_train=None, n_val=6, labels={key: NETWORKS[key][1] for key in models}, samples=digits,
        sample_labels=[3, 1, 4, 1], shifted_samples=shift_images(digits, *settings.shift))


@pytest.fixture(scope="module")
def result() -> EquivarianceResult:
    return make_result()


def test_figures_writes_four_pngs(result, tmp_path, check_png):
    paths = figures(result, tmp_path)
    assert paths == {"samples": tmp_path / "equivariance_shifted_samples.png",
                     "curves": tmp_path / "equivariance_accuracy_vs_shift.png",
                     "layers": tmp_path / "equivariance_layers.png", "example": tmp_path / "equivariance_example.png"}
    for path in paths.values():
        check_png(path)


def test_without_a_cnn_only_the_samples_and_curves_are_drawn(tmp_path, check_png):
    paths = figures(make_result(("mlp",), with_cnn=False), tmp_path)
    assert list(paths) == ["samples", "curves"]
    check_png(paths["curves"])
    with pytest.raises(ValueError, match="no example"):
        example_figure(make_result(("mlp",), with_cnn=False))


def test_curves_figure_has_a_panel_per_direction_and_a_line_per_model(result):
    fig = curves_figure(result)
    axes = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in axes] == ["shift right (dx)", "shift down (dy)", "shift right and down (dx = dy)"]
    for ax in axes:
        lines = [line for line in ax.lines if len(line.get_xdata()) > 2]
        assert len(lines) == 3
        assert list(lines[0].get_xdata()) == [0, 1, 2, 3]
        np.testing.assert_allclose(lines[2].get_ydata(), result.curve("mlp_augmented", "right").accuracy)
        assert [line.get_label() for line in lines] == ["MLP", "CNN", "MLP + shift augmentation"]
        # the augmentation range is marked where the augmented MLP is shown
        assert any(list(line.get_xdata()) == [3, 3] for line in ax.lines)
    assert fig.get_suptitle() == "Accuracy against shift (6 validation images)"


def test_layers_figure_has_a_panel_per_probe_shift(result):
    fig = layers_figure(result)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input shifted 2 px right, 2 px down", "input shifted 4 px right, 4 px down"]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[0] == "conv1\nk = 1,1" and ticks[2] == "conv2\nk = 0.5,0.5\n(not whole)"
    assert ticks[-1] == "fc1\n(output)"
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()][2] == "conv2\nk = 1,1"
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


def test_shifted_samples_figure_shows_each_digit_above_its_shifted_copy(result):
    fig = shifted_samples_figure(result)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 * 4  # the exercise's 4 + 4
    for column, (digit, moved) in enumerate(zip(result.samples, result.shifted_samples, strict=True)):
        np.testing.assert_array_equal(panels[column].images[0].get_array(), digit[0])
        np.testing.assert_array_equal(panels[4 + column].images[0].get_array(), moved[0])
        label = result.sample_labels[column]
        assert panels[column].get_title() == f"original: {label}"
        assert panels[4 + column].get_title() == f"shifted 2,2 px: {label}"
    empty = make_result()
    empty.samples, empty.sample_labels = np.zeros((0, 1, 28, 28), np.uint8), []
    with pytest.raises(ValueError, match="no sample images"):
        shifted_samples_figure(empty)
