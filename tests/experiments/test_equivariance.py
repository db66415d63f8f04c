"""The equivariance experiment (assignment 004 task 6): the per-layer measurement on hand-built cases with known
answers, the shift augmentation, the assignment's questions answered from hand-built results (every judgement by its
named threshold), and the experiment end to end on the tiny MNIST files."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab import data
from cnnlab.data import shift_images
from cnnlab.errors import UserError
from cnnlab.experiments.base import Context, MissingNetwork
from cnnlab.experiments.equivariance import (
    DIRECTIONS,
    NETWORKS,
    AccuracyCurve,
    EquivarianceResult,
    EquivarianceSettings,
    LayerEquivariance,
    examples,
    interior_slice,
    measure_equivariance,
    relative_distance,
    run,
    shift_feature_maps,
)
from cnnlab.experiments.equivariance.answers import (
    QUESTIONS,
    SAME_ACCURACY,
    SAME_FEATURES,
    answers,
    cnn_gap,
    mlp_remedy,
    moves,
    observation,
    trend,
)
from cnnlab.formatting import relative_error
from cnnlab.models import build_model
from cnnlab.models.introspect import AxisGeometry, receptive_fields
from cnnlab.report import Section
from cnnlab.report.sections import equivariance as equivariance_section
from cnnlab.training import AUGMENTATIONS, TrainConfig, load_trained, predict, recipe


def blobs(n: int = 6, size: int = 28, margin: int = 6, seed: int = 0) -> np.ndarray:
    """Float images in [0, 1] with random content inside an empty margin (like MNIST digits)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, size, size), dtype=np.float32)
    x[:, :, margin:size - margin, margin:size - margin] = rng.random((n, 1, size - 2 * margin, size - 2 * margin))
    return x


def full_frame(n: int = 4, size: int = 16, seed: int = 0) -> np.ndarray:
    """Random images whose content fills the whole frame (so it meets the borders)."""
    return np.random.default_rng(seed).random((n, 1, size, size), dtype=np.float32) + 0.1


def by_layer(measurements):
    return {m.layer: m for m in measurements}


# --- the hand-checkable cases -------------------------------------------------------------------------------------

def circular_net(engine: str):
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular")), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(3, 2, 5, padding=2, padding_mode="circular")),
    ]))
    if engine == "torch":
        return net
    from cnnlab import numpy_nn

    own = numpy_nn.Sequential(OrderedDict([
        ("conv1", numpy_nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular")), ("relu1", numpy_nn.ReLU()),
        ("conv2", numpy_nn.Conv2d(3, 2, 5, padding=2, padding_mode="circular")),
    ]))
    own.load_state_dict(net.state_dict())
    return own


@pytest.mark.parametrize("engine", ["torch", "numpy"])
@pytest.mark.parametrize("d", [(3, -2), (1, 5), (-7, 0)])
def test_circular_padding_stride_1_is_exactly_equivariant_to_wrapped_shifts(engine, d):
    x = full_frame()
    ms = measure_equivariance(circular_net(engine), x, d, mode="wrap")
    assert [m.layer for m in ms] == ["conv1", "relu1", "conv2"]
    for m in ms:
        assert m.whole and m.stride == (1, 1) and m.compared_shift == d
        assert m.full < 1e-6, (m.layer, m.full)  # exact up to float rounding, over the whole map
        assert m.interior < 1e-6
        assert m.invariance > 0.05  # the maps do move: equivariant, not invariant


def test_zero_padding_is_exact_in_the_interior_only():
    torch.manual_seed(0)
    conv = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 4, 3, padding=1))]))
    m = measure_equivariance(conv, full_frame(size=16), (2, 0))[0]
    # Receptive field of output j is input j-1 .. j+1; it must avoid the 2 vacated columns and the padding:
    # 2 <= j - 1 and j + 1 <= 15  ->  j in 3 .. 14, i.e. 12 columns; rows: 1 .. 14 (no padding), 14 rows.
    assert m.interior_size == (14, 12)
    assert m.interior < 1e-6
    assert m.full > 1e-2  # the content meets the border: the full map is not a shifted copy


def test_background_fill_makes_margined_images_exact_on_the_full_map():
    torch.manual_seed(0)
    conv = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 4, 3, padding=1)), ("relu", nn.ReLU())]))
    for m in measure_equivariance(conv, blobs(), (2, 3)):
        assert m.full < 1e-6 and m.interior < 1e-6


def test_stride_2_follows_even_shifts_only():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 4, 4, stride=2, padding=1))]))
    even = measure_equivariance(net, blobs(), (2, 2))[0]
    assert even.whole and even.expected_shift == (1.0, 1.0) and even.compared_shift == (1, 1)
    assert even.interior < 1e-6
    odd = measure_equivariance(net, blobs(), (1, 0))[0]
    assert not odd.whole and odd.expected_shift == (0.5, 0.0)
    assert odd.compared_shift in ((0, 0), (1, 0))
    assert odd.interior > 0.05  # half a cell: no shifted copy exists


def test_receptive_fields_of_the_mnist_cnn():
    for engine in ("torch", "numpy"):
        geo = receptive_fields(build_model("mnist-cnn", engine, seed=0), (28, 28))
        _y1, x1 = geo["conv1"]
        assert (x1.offset, x1.stride, x1.extent) == (-1, 2, 4)
        # conv2 output j sees conv1 outputs 2j-1 .. 2j+2, i.e. input pixels 4j-3 .. 4j+6.
        _y2, x2 = geo["conv2"]
        assert (x2.offset, x2.stride, x2.extent) == (-3, 4, 10)
        assert geo["relu2"] == geo["conv2"]
        assert geo["flatten"] is None and geo["fc1"] is None


def test_interior_slice_by_hand():
    axis = AxisGeometry(offset=-3, stride=4, extent=10, size=28)
    # shift 4, map shift 1: need 4j - 3 >= 4 (j >= 2) and 4j + 6 <= 27 (j <= 5).
    assert interior_slice(axis, 7, 4, 1) == slice(2, 6)
    assert interior_slice(axis, 7, 0, 0) == slice(1, 6)
    assert interior_slice(AxisGeometry(0, 1, 30, 28), 1, 0, 0) == slice(0, 0)  # nothing fits


def test_mlp_invariance_distance_is_larger_than_cnn_interior_equivariance_error():
    torch.manual_seed(0)
    mlp = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 10))]))
    cnn = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU())]))
    x = blobs()
    mlp_out = by_layer(measure_equivariance(mlp, x, (2, 2)))["fc1"]
    cnn_conv = by_layer(measure_equivariance(cnn, x, (2, 2)))["conv1"]
    assert mlp_out.is_output and not mlp_out.spatial and math.isnan(mlp_out.full)
    assert mlp_out.invariance > 0.1
    assert cnn_conv.interior < 1e-6
    assert mlp_out.invariance > 1e4 * max(cnn_conv.interior, 1e-12)


def test_relative_distance():
    a = np.array([[3.0, 4.0], [1.0, 1.0], [5.0, 5.0]])
    b = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    ref = np.array([[0.0, 5.0], [2.0, 0.0], [0.0, 0.0]])  # third reference is zero: left out
    assert relative_distance(a, b, ref) == pytest.approx((1.0 + 0.0) / 2)
    assert math.isnan(relative_distance(np.zeros((0, 2)), np.zeros((0, 2))))
    with pytest.raises(ValueError, match="shapes differ"):
        relative_distance(np.zeros((1, 2)), np.zeros((1, 3)))


def test_shift_feature_maps_fills_vacated_cells_with_the_background_response():
    maps = np.arange(2 * 3 * 3, dtype=float).reshape(1, 2, 3, 3)
    background = np.full((1, 2, 3, 3), -1.0)
    out = shift_feature_maps(maps, 1, 0, background)
    np.testing.assert_array_equal(out[0, :, :, 0], -1.0)
    np.testing.assert_array_equal(out[0, :, :, 1:], maps[0, :, :, :2])
    np.testing.assert_array_equal(shift_feature_maps(maps, 1, 0), shift_images(maps, 1, 0))
    np.testing.assert_array_equal(shift_feature_maps(maps, 1, 0, background, mode="wrap"),
                                  np.roll(maps, 1, axis=-1))


# --- the layer measurement as data --------------------------------------------------------------------------------

def test_layer_measurement_is_json_ready_without_nan():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3, padding=1)), ("flatten", nn.Flatten()),
                                     ("fc", nn.Linear(2 * 28 * 28, 3))]))
    conv, fc = measure_equivariance(net, blobs(), (2, 2))
    assert [conv.layer, fc.layer] == ["conv", "fc"]  # flatten only reshapes: not measured
    assert conv.spatial and conv.stride == (1, 1) and not conv.is_output
    assert not fc.spatial and fc.is_output and fc.stride is None and math.isnan(fc.full)
    as_dict = fc.to_dict()
    assert as_dict["full"] is None and as_dict["interior"] is None and as_dict["invariance"] == fc.invariance
    assert json.loads(json.dumps([conv.to_dict(), as_dict], allow_nan=False))[0]["shift"] == [2, 2]


def test_examples_show_the_maps_equivariance_predicts():
    model = build_model("mnist-cnn", "numpy", seed=0)
    first, second = examples(model, blobs(n=2), (2, 2))
    assert (first.layer, first.feature_shift, first.whole) == ("conv1", (1, 1), True)
    assert first.maps.shape == (5, 14, 14) and first.image.shape == (28, 28)
    np.testing.assert_array_equal(first.shifted, shift_images(first.image, 2, 2))
    # the margined blob stays away from every border: the shifted image's maps are the maps moved by one cell
    np.testing.assert_allclose(first.shifted_maps, first.expected_maps, atol=1e-5)
    assert (second.layer, second.expected_shift, second.whole) == ("conv2", (0.5, 0.5), False)
    assert np.abs(second.shifted_maps - second.expected_maps).max() > 1e-3  # half a cell: no shifted copy
    assert json.loads(json.dumps(second.to_dict()))["map_shape"] == [10, 7, 7]


# --- augmentation -----------------------------------------------------------------------------------------------

def test_shift_augmentation_moves_each_image_by_at_most_its_pixels():
    x = blobs(n=20, margin=8)
    augment = AUGMENTATIONS["shift"](3)
    out = augment(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    found = []
    for original, moved in zip(x, out, strict=True):
        matches = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
                   if np.array_equal(shift_images(original, dx, dy), moved)]
        assert matches, "every output is a whole-pixel shift of its input (vacated pixels 0, no flip)"
        found.append(matches[0])
    assert len(set(found)) > 5  # shifts differ between images
    np.testing.assert_array_equal(out, augment(x, np.random.default_rng(0)))  # same generator state, same batch
    np.testing.assert_array_equal(AUGMENTATIONS["shift"](0)(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="padding must be a whole number >= 0"):
        AUGMENTATIONS["shift"](-1)
    with pytest.raises(ValueError, match=r"got shape \(1, 28, 28\)"):  # one image, not a batch
        augment(x[0], np.random.default_rng(0))


def test_the_augmented_mlp_recipe_trains_on_random_shifts():
    config = recipe("mlp-shift")
    assert (config.model, config.augment, config.augment_pixels) == ("mnist-mlp", "shift", 3)
    assert "random shifts of up to ±3 px" in config.describe()
    x = blobs(n=8)
    np.testing.assert_array_equal(config.augmentation()(x, np.random.default_rng(5)),
                                  AUGMENTATIONS["shift"](3)(x, np.random.default_rng(5)))
    assert recipe("mlp-seed").augmentation() is None
    assert TrainConfig(augment="shift", augment_pixels=1).augmentation().__name__.endswith("flip=False)")


# --- the assignment's questions answered from hand-built results -----------------------------------------------------

SHIFTS = list(range(7))


def curve(model: str, values: list[float], direction: str = "diagonal") -> AccuracyCurve:
    return AccuracyCurve(model, direction, SHIFTS[:len(values)], list(values))


def layer(name: str, kind: str, shift: tuple[int, int] = (2, 2), stride: int | None = 1, *, interior: float = 0.0,
          full: float = 0.0, invariance: float = 0.3, is_output: bool = False) -> LayerEquivariance:
    """A measurement as :func:`measure_equivariance` reports it; ``stride=None``: a non-spatial layer."""
    if stride is None:
        return LayerEquivariance(name, kind, shift, "fill", (4, 10), None, None, None, False, math.nan, math.nan,
                                 None, invariance, is_output)
    expected = (shift[0] / stride, shift[1] / stride)
    whole = all(float(e).is_integer() for e in expected)
    compared = (round(expected[0]), round(expected[1]))
    return LayerEquivariance(name, kind, shift, "fill", (4, 5, 14, 14), (stride, stride), expected, compared, whole,
                             full, interior, (10, 10), invariance, is_output)


def hand_result(accuracy: dict[str, tuple[float, float]], diagonals: dict[str, list[float]] | None = None,
                layers: dict[str, list[LayerEquivariance]] | None = None, **settings) -> EquivarianceResult:
    """A result with the given (original, shifted) accuracies; each model's curves are ``diagonals[model]`` (default:
    the two accuracies at 0 and 2 px), the same in every direction."""
    options = {"max_shift": 2, "augmented_mlp": "mlp_augmented" in accuracy, "probe_shifts": ((2, 2),)}
    options.update(settings)
    diagonals = diagonals or {key: [a, (a + b) / 2, b] for key, (a, b) in accuracy.items()}
    curves = [curve(key, values, direction) for key, values in diagonals.items() for direction in DIRECTIONS]
    return EquivarianceResult(
        settings=EquivarianceSettings(**options), accuracy={k: {"original": a, "shifted": b}
                                                            for k, (a, b) in accuracy.items()},
        curves=curves, layers=layers or {}, histories={}, examples=[], seconds={}, n_train=10, n_val=10,
        labels={key: NETWORKS[key][1] for key in accuracy})


def said(points: list[str]) -> str:
    """An answer's points as one text, a point per line (how the report lists them)."""
    assert isinstance(points, list) and all(isinstance(p, str) and p for p in points)
    return "\n".join(points)


def test_answers_follow_the_numbers_not_a_script():
    """If the CNN loses more than the MLP, the text says so (no canned 'the CNN is more robust')."""
    result = hand_result({"mlp": (0.9, 0.7), "cnn": (0.9, 0.3)})
    a1 = said(answers(result)[0][1])
    assert "the CNN loses 40.0 points more than the MLP" in a1
    assert "less than the MLP" not in a1
    result.accuracy["cnn"]["shifted"] = 0.85
    assert "Both suffer, but the CNN loses 15.0 points less than the MLP." in said(answers(result)[0][1])
    assert [q for q, _ in answers(result)] == list(QUESTIONS)


@pytest.mark.parametrize(("cnn_shifted", "expected"), [
    (0.896, "Both lose about the same."),                      # drops 0.4 vs 0.0 points: below SAME_ACCURACY
    (0.894, "The shift does not hurt the CNN at all here."),   # it gains 0.6 points: a difference worth stating
    (0.904, "Both lose about the same."),                      # the CNN gains 0.4 points: still the same
    (0.906, "In this run the CNN loses 0.6 points more than the MLP"),
])
def test_half_a_point_decides_whether_the_drops_are_about_the_same(cnn_shifted, expected):
    # the MLP keeps its accuracy; the CNN moves a little either way
    assert SAME_ACCURACY == 0.005
    result = hand_result({"mlp": (0.9, 0.9), "cnn": (cnn_shifted, 0.9)})
    assert expected in said(observation(result))


def test_a_cnn_that_gains_on_shifted_digits_is_not_said_to_lose():
    text = said(observation(hand_result({"mlp": (0.102, 0.097), "cnn": (0.102, 0.105)})))
    assert "the CNN rises to 10.5% (+0.3 points)" in text
    assert "CNN loses" not in text


@pytest.mark.parametrize(("augmented_shifted", "verdict"), [
    (0.704, "no real gain here"), (0.706, "recovering 0.6 points"), (0.694, "0.6 points worse here"),
    (0.696, "no real gain here"),
])
def test_the_augmented_mlp_verdict_follows_the_same_threshold(augmented_shifted, verdict):
    result = hand_result({"mlp": (0.9, 0.7), "cnn": (0.9, 0.8), "mlp_augmented": (0.88, augmented_shifted)},
                         augment_shift=1)
    text = said(mlp_remedy(result))
    assert f"reaches {100 * augmented_shifted:.1f}% on the shifted set against 70.0% without augmentation " \
           f"({verdict})" in text
    assert "within the ±1 px seen in training, at 1 px" in text and "Beyond it, at 2 px" in text


@pytest.mark.parametrize(("before", "after", "expected"), [
    (0.9, 0.5, "falls to 50.0% (-40.0 points)"),
    (0.5, 0.546, "rises to 54.6% (+4.6 points)"),
    (0.5, 0.5004, "stays at 50.0%"),          # below UNCHANGED (0.05 points)
    (0.5, 0.5006, "rises to 50.1% (+0.1 points)"),
    (0.5, 0.4996, "stays at 50.0%"),
])
def test_moves_says_what_the_accuracy_did(before, after, expected):
    assert moves(before, after) == expected


CNN, MLP = ("CNN", "MLP")


@pytest.mark.parametrize(("first", "second", "expected"), [
    # the CNN ahead at 2 px, the MLP from 3 px on: they cross, and the text says where
    ([0.9, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2], [0.95, 0.9, 0.7, 0.65, 0.5, 0.5, 0.5],
     "The curves cross: from 3 px on the MLP is ahead; at 6 px (diagonal) the CNN is at 20.0%, the MLP at 50.0%."),
    ([0.9, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
     "With larger shifts the CNN stays ahead and the gap widens: at 6 px (diagonal) the CNN is at 65.0%, the MLP "
     "at 30.0%."),
    ([0.9, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6], [0.9, 0.8, 0.7, 0.65, 0.6, 0.58, 0.55],
     "With larger shifts the CNN stays ahead and the gap narrows: at 6 px (diagonal) the CNN is at 60.0%, the MLP "
     "at 55.0%."),
    ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], [0.9, 0.9, 0.85, 0.8, 0.75, 0.6, 0.454],
     "With larger shifts the MLP stays ahead and the gap stays about the same: at 6 px (diagonal) the CNN is at "
     "30.0%, the MLP at 45.4%."),
    ([0.9, 0.9, 0.85, 0.8, 0.75, 0.7, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.496],
     "By the largest shift the two meet: at 6 px (diagonal) the CNN is at 50.0%, the MLP at 49.6%."),
])
def test_trend_of_two_curves_is_read_from_the_numbers(first, second, expected):
    text = trend(curve("cnn", first), curve("mlp", second), (CNN, MLP), 2)
    assert text == expected
    assert "continue" not in text  # the old canned "the curves continue the trend"


def test_trend_thresholds_decide_widening():
    base = [0.9, 0.9, 0.8, 0.8, 0.8, 0.8]
    for gap_at_top, how in ((0.204, "stays about the same"), (0.206, "widens"), (0.194, "narrows"),
                            (0.196, "stays about the same")):
        other = [0.9, 0.9, 0.6, 0.6, 0.6, round(0.8 - gap_at_top, 6)]
        assert f"the gap {how}:" in trend(curve("cnn", base), curve("mlp", other), (CNN, MLP), 2)


def test_trend_without_a_larger_shift_only_states_the_values():
    text = trend(curve("cnn", [0.9, 0.8, 0.7]), curve("mlp", [0.9, 0.6, 0.2]), (CNN, MLP), 2)
    assert text == "No larger shift was measured: at 2 px (diagonal) the CNN is at 70.0%, the MLP at 20.0%."


def test_trend_of_curves_level_at_the_seed_shift_does_not_say_stays_ahead():
    text = trend(curve("cnn", [0.9, 0.8, 0.7, 0.6, 0.5]), curve("mlp", [0.9, 0.8, 0.702, 0.8, 0.8]),
                         (CNN, MLP), 2)
    assert "stays ahead" not in text


@pytest.mark.parametrize(("interior", "expected"), [
    (0.0, "shifted output for the original exactly, so what it detects does not change, only where."),
    (5e-5, "shifted output for the original up to rounding (5.0e-05), so what it detects does not change"),
    (5e-4, "only up to a relative error of 5.0e-04, so what it detects does not change, only where."),
    (2e-3, "only up to a relative error of 0.2%."),
])
def test_rounding_and_same_features_thresholds_word_the_conv_error(interior, expected):
    layers = {"cnn": [layer("conv1", "conv", stride=2, interior=interior),
                      layer("fc1", "linear", stride=None, invariance=0.25, is_output=True)],
              "mlp": [layer("fc2", "linear", stride=None, invariance=0.5, is_output=True)]}
    text = said(observation(hand_result({"mlp": (0.9, 0.7), "cnn": (0.9, 0.8)}, layers=layers)))
    assert expected in text
    assert "moves the MLP's output by 50.0% of its norm and the CNN's by 25.0%" in text
    assert ("does not change" in text) == (interior < SAME_FEATURES)


@pytest.mark.parametrize(("full", "borders"), [
    (0.0149, "Borders matter little here (conv1 at 2,2 px: 1.5% on the full map, 0.5% in the interior)"),
    (0.0151, "Borders: near the edges the maps are not shifted copies even for whole shifts (conv1 at 2,2 px: "
             "1.5% on the full map, 0.5% in the interior)"),
])
def test_border_effect_threshold(full, borders):
    layers = {"cnn": [layer("conv1", "conv", stride=2, full=full, interior=0.005),
                      layer("fc1", "linear", stride=None, is_output=True)]}
    text = said(cnn_gap(hand_result({"cnn": (0.9, 0.8)}, layers=layers)))
    assert borders in text
    assert "Strides: the 2,2 px shift is a whole number of pixels on every map" in text


@pytest.mark.parametrize(("at_4", "verdict"), [
    (0.80, "the fully connected layer, not the convolutions, fails to recognise the moved features."),
    (0.86, "at this shift the classifier copes with the moved features."),
])
def test_clear_drop_decides_who_fails_at_an_exact_shift(at_4, verdict):
    """At 4,4 px (a multiple of every stride) all maps are exact copies; a drop of more than 5 points is the head's."""
    layers = {"cnn": [layer("conv1", "conv", stride=2), layer("conv2", "conv", stride=4, interior=0.4),
                      layer("fc1", "linear", stride=None, invariance=0.6, is_output=True),
                      layer("conv1", "conv", (4, 4), stride=2), layer("conv2", "conv", (4, 4), stride=4),
                      layer("fc1", "linear", (4, 4), stride=None, is_output=True)]}
    result = hand_result({"cnn": (0.9, 0.88)}, {"cnn": [0.9, 0.89, 0.88, 0.87, at_4, 0.7, 0.6]}, layers,
                         max_shift=6, probe_shifts=((2, 2), (4, 4)))
    text = said(cnn_gap(result))
    assert f"At 4,4 px every map is an exact shifted copy in the interior, yet the CNN's accuracy is " \
           f"{100 * at_4:.1f}% (unshifted 90.0%): {verdict}" in text
    assert "Strides: conv2 has a cumulative stride of 4, so a 2 px shift would be 0.5 px on its map" in text
    assert "with a 4,4 px shift, a multiple of the stride, conv2's interior error drops to 0" in text
    assert "at 6 px diagonally the CNN's accuracy falls to 60.0% (-30.0 points) from 90.0%" in text
    points = cnn_gap(result)
    assert len(points) == 5 and [p.split()[0] for p in points[1:]] == ["The", "Strides:", "Borders", "Data:"]


def test_missing_models_are_said_not_guessed():
    only_mlp = hand_result({"mlp": (0.9, 0.7)})
    assert observation(only_mlp) == ["Not measured (MLP or CNN missing)."]
    assert cnn_gap(only_mlp) == ["Not measured (no CNN)."]


# --- the experiment on the tiny MNIST files -------------------------------------------------------------------------

TINY = {"max_shift": 2, "probe_images": 8, "val_max_datapoints": 32}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_data_root) -> tuple[EquivarianceResult, Path]:
    """The experiment with its three networks trained in quick mode (2 epochs on the 100 tiny training images)."""
    out = tmp_path_factory.mktemp("equivariance")
    context = Context(out, data_root=tiny_data_root, quick=True, train_missing=True)
    return run(EquivarianceSettings(augment_shift=2, **TINY), context), out


@pytest.fixture
def tiny_result(tiny_run) -> EquivarianceResult:
    return tiny_run[0]


@pytest.mark.e2e
def test_tiny_run_has_every_part(tiny_result):
    r = tiny_result
    assert set(r.accuracy) == {"mlp", "cnn", "mlp_augmented"}
    assert r.labels == {"mlp": "MLP", "cnn": "CNN", "mlp_augmented": "MLP + shift augmentation"}
    assert all(set(v) == {"original", "shifted"} and 0 <= v["shifted"] <= 1 for v in r.accuracy.values())
    assert len(r.curves) == 3 * 3 and all(c.shifts == [0, 1, 2] for c in r.curves)
    for key in r.accuracy:
        assert r.curve(key, "diagonal").at(0) == r.accuracy[key]["original"]
        assert r.curve(key, "diagonal").at(2) == r.accuracy[key]["shifted"]
        assert r.curve(key, "right").at(0) == r.curve(key, "down").at(0) == r.accuracy[key]["original"]
    cnn = r.layers["cnn"]
    assert [m.layer for m in cnn if m.shift == (2, 2)] == ["conv1", "relu1", "conv2", "relu2", "fc1"]
    assert r.layer("cnn", "conv1", (2, 2)).whole and not r.layer("cnn", "conv2", (2, 2)).whole
    assert r.layer("cnn", "conv2", (4, 4)).whole and r.layer("cnn", "conv2", (4, 4)).interior < 1e-6
    assert r.layer("cnn", "fc1", (2, 2)).is_output
    assert [m.layer for m in r.layers["mlp"] if m.shift == (2, 2)] == ["fc1", "relu1", "fc2"]
    assert [ex.layer for ex in r.examples] == ["conv1", "conv2"]
    assert r.example.maps.shape == (5, 14, 14) and r.example.feature_shift == (1, 1) and r.example.whole
    assert r.examples[1].maps.shape == (10, 7, 7) and r.examples[1].expected_shift == (0.5, 0.5)
    assert not r.examples[1].whole
    assert r.n_train == 100 and r.n_val == 32 and r.trained == dict.fromkeys(r.accuracy, True)
    assert r.samples.shape == (4, 1, 28, 28) and r.samples.dtype == np.uint8 and len(r.sample_labels) == 4
    np.testing.assert_array_equal(r.shifted_samples, shift_images(r.samples, 2, 2))  # the assignment's 4 + 4 digits
    assert set(r.histories) == {"mlp", "cnn", "mlp_augmented"}
    assert all(len(h["val_acc"]) == 2 for h in r.histories.values())  # the recipes' quick 2 epochs
    phases = r.seconds  # which phases were timed (their durations depend on the machine and are not checked)
    assert set(phases) == {"networks", "accuracy_curves", "equivariance", "total"}
    assert all(isinstance(value, float) for value in phases.values())


@pytest.mark.e2e
def test_tiny_run_accuracies_are_those_of_the_trained_networks(tiny_run, tiny_data_root):
    """Recomputed here from the saved CNN and the shifted validation digits."""
    result, out = tiny_run
    cnn, config = load_trained(out / "mnist-seed", "numpy")
    assert config == recipe("mnist-seed", quick=True, seed=0)
    val = data.load_dataset("mnist", "val", tiny_data_root, max_datapoints=32, download=False, progress=False)
    moved = data.Dataset(shift_images(val.images, 2, 2), val.labels, val.classes, val.name, val.split, val.spec)
    for dataset, key in ((val, "original"), (moved, "shifted")):
        x, y = data.prepare(dataset, config.normalization)
        assert result.accuracy["cnn"][key] == pytest.approx(float((predict(cnn, x).argmax(1) == y).mean()))
    probe, _ = data.prepare(val, config.normalization)
    conv2 = by_layer(measure_equivariance(cnn, probe[:8], (2, 2)))["conv2"]
    assert result.layer("cnn", "conv2", (2, 2)).interior == pytest.approx(conv2.interior)
    # the augmented MLP was trained with the experiment's augment_shift, not the recipe's 3 px
    assert load_trained(out / "mlp-shift")[1].augment_pixels == 2


@pytest.mark.e2e
def test_tiny_run_to_dict_is_strict_json(tiny_result):
    d = json.loads(json.dumps(tiny_result.to_dict(), allow_nan=False))
    assert d["settings"]["shift"] == [2, 2] and d["settings"]["probe_shifts"] == [[2, 2], [4, 4]]
    assert d["accuracy"]["cnn"]["original"] == tiny_result.accuracy["cnn"]["original"]
    assert [a["points"] for a in d["answers"]] == [points for _, points in tiny_result.answers]
    assert len(d["answers"]) == 3 and d["trained"] == {"mlp": True, "cnn": True, "mlp_augmented": True}
    assert d["examples"][0]["map_shape"] == [5, 14, 14]
    assert d["layers"]["cnn"][-1]["full"] is None  # the logits: no shifted copy (NaN in the result)


@pytest.mark.e2e
def test_answers_quote_the_measured_numbers(tiny_result):
    (q1, a1), (_q2, a2), (_q3, a3) = ((q, said(a)) for q, a in tiny_result.answers)
    assert "What do you observe" in q1
    acc = tiny_result.accuracy
    assert f"{100 * acc['mlp']['original']:.1f}%" in a1 and f"{100 * acc['cnn']['shifted']:.1f}%" in a1
    assert f"{100 * acc['mlp_augmented']['shifted']:.1f}%" in a2 and "random shifts of up to ±2 px" in a2
    assert "0.5 px" in a3  # the 2 px shift is half a cell after two stride-2 layers
    assert tiny_result.answers == answers(tiny_result)


@pytest.mark.e2e
def test_section(tiny_result):
    sec = equivariance_section.section(tiny_result, {"curves": Path("a.png"), "layers": Path("b.png")})
    assert isinstance(sec, Section)
    assert [f.caption[:10] for f in sec.figures] == ["Validation", "Equivarian"]
    assert [f.path for f in sec.figures] == [Path("a.png"), Path("b.png")]
    assert len(sec.tables) == 4 and sec.paragraphs == [] and sec.qa == tiny_result.answers
    accuracy, curves, maps, others = sec.tables
    assert accuracy.rows[0][:2] == ["MLP", True]
    assert accuracy.rows[0][2] == f"{100 * tiny_result.accuracy['mlp']['original']:.1f}%"
    assert curves.columns == ["model", "direction", "0 px", "1 px", "2 px"] and len(curves.rows) == 9
    conv2 = next(row for row in maps.rows if row[:3] == ["CNN", "conv2", "2,2"])
    kx, ky = tiny_result.layer("cnn", "conv2", (2, 2)).compared_shift
    assert conv2[3] == 4 and conv2[4] == f"0.5,0.5 (compared: {kx},{ky})"
    assert None not in [cell for row in maps.rows for cell in row[:5]]  # spatial layers: every column measured
    # the layers without a map (fully connected, logits) have only the change of their output
    assert [row[:3] for row in others.rows if row[0] == "CNN"] == [["CNN", "fc1", "2,2"], ["CNN", "fc1", "4,4"]]
    fc1 = tiny_result.layer("cnn", "fc1", (2, 2))
    assert next(row for row in others.rows if row[:3] == ["CNN", "fc1", "2,2"])[3] == relative_error(fc1.invariance)
    assert [row[1] for row in others.rows if row[0] == "MLP" and row[2] == "2,2"] == ["fc1", "relu1", "fc2"]
    question, points = sec.qa[2]
    assert question.startswith("Why is the performance of the CNN not equal")
    assert any(p.startswith("Strides: conv2 has a cumulative stride of 4") for p in points)
    assert "(100 training images)" in sec.intro and "Training time: MLP " in sec.intro
    assert sec.settings["augment_shift"] == 2


def test_cnn_from_a_weights_folder_is_used_as_given(tmp_path, tiny_data_root, run_folder):
    folder = run_folder("cnn", "mnist-cnn", engine="numpy", seed=3)
    saved = (folder / "model.pt").read_bytes()
    settings = EquivarianceSettings(weights=folder, augmented_mlp=False, probe_shifts=((2, 2),), **TINY)
    r = run(settings, Context(tmp_path / "out", data_root=tiny_data_root, quick=True))
    assert r.trained == {"mlp": True, "cnn": False} and set(r.histories) == {"mlp"} and set(r.accuracy) == {"mlp",
                                                                                                          "cnn"}
    assert not (tmp_path / "out" / "mnist-seed").exists()  # the CNN was not trained
    assert (folder / "model.pt").read_bytes() == saved
    val = data.load_dataset("mnist", "val", tiny_data_root, max_datapoints=8, download=False, progress=False)
    x, _ = data.prepare(val, "unit")
    expected = measure_equivariance(build_model("mnist-cnn", "numpy", seed=3), x, (2, 2))
    assert [m.interior for m in r.layers["cnn"]] == pytest.approx([m.interior for m in expected], nan_ok=True)
    assert [m.invariance for m in r.layers["cnn"]] == pytest.approx([m.invariance for m in expected])


def test_weights_of_another_network_are_refused_with_both_names(tmp_path, tiny_data_root, run_folder):
    folder = run_folder("mlp", "mnist-mlp")
    with pytest.raises(UserError, match="that run trained a mnist-mlp, but equivariance needs a mnist-cnn"):
        run(EquivarianceSettings(weights=folder, **TINY), Context(tmp_path, data_root=tiny_data_root, quick=True))


def test_a_missing_cnn_is_reported_before_anything_is_trained(tmp_path, tiny_data_root):
    with pytest.raises(MissingNetwork):
        run(EquivarianceSettings(**TINY), Context(tmp_path, data_root=tiny_data_root, quick=True))
    assert not (tmp_path / "mlp-seed").exists()


def test_missing_data_is_a_clear_error_without_downloading(tmp_path, offline):
    with pytest.raises(data.DataNotFoundError, match="MNIST files are missing"):
        run(EquivarianceSettings(**TINY), Context(tmp_path / "out", data_root=tmp_path / "empty",
                                                  train_missing=True))


def test_settings_validation():
    with pytest.raises(ValueError, match="--shift needs two numbers"):
        EquivarianceSettings(shift=(1, 2, 3))
    with pytest.raises(ValueError, match="probe_shifts must be"):
        EquivarianceSettings(probe_shifts=((2, 2), (4,)))
    quick = EquivarianceSettings(max_shift=3).quick()
    assert (quick.val_max_datapoints, quick.probe_images, quick.max_shift) == (2000, 200, 3)




@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"max_shift": 15}, "--max-shift must be at most 14"),
    pytest.param({"engine": "jax"}, "--engine: 'jax' is not one of"),
    pytest.param({"probe_images": 0}, "--probe-images must be at least 1"),
])
def test_declared_bounds_are_checked_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EquivarianceSettings(**kwargs)
