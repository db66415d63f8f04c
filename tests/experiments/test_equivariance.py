"""The equivariance experiment: the per-layer measurement on hand-built cases with known answers, the shift
augmentation, the experiment's plumbing on tiny synthetic data, and answers that follow the numbers."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.experiments.equivariance import (
    AccuracyCurve,
    EquivarianceResult,
    EquivarianceSettings,
    LayerEquivariance,
    RandomShift,
    answers,
    interior_slice,
    measure_equivariance,
    receptive_fields,
    relative_distance,
    run_equivariance,
    section,
    shift,
    shift_feature_maps,
)
from cnnlab.models import build_model


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
    from cnnlab.experiments.equivariance import AxisGeometry

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
    np.testing.assert_array_equal(shift_feature_maps(maps, 1, 0), shift(maps, 1, 0))
    np.testing.assert_array_equal(shift_feature_maps(maps, 1, 0, background, mode="wrap"),
                                  np.roll(maps, 1, axis=-1))


# --- augmentation -----------------------------------------------------------------------------------------------

def test_random_shift_moves_each_image_by_at_most_max_shift():
    x = blobs(n=20, margin=8)
    out = RandomShift(3)(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    found = []
    for original, moved in zip(x, out, strict=True):
        matches = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
                   if np.array_equal(shift(original, dx, dy), moved)]
        assert matches, "every output is a whole-pixel shift of its input"
        found.append(matches[0])
    assert len(set(found)) > 5  # shifts differ between images
    again = RandomShift(3)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)  # same generator state, same batch
    assert RandomShift(0)(x, np.random.default_rng(0)) is x
    with pytest.raises(ValueError):
        RandomShift(-1)
    with pytest.raises(ValueError, match="N, C, H, W"):
        RandomShift(2)(x[0], np.random.default_rng(0))


def test_random_shift_wrap_mode_rolls_the_content():
    x = blobs(n=10, margin=0)
    out = RandomShift(4, mode="wrap")(x, np.random.default_rng(3))
    dx, dy = np.random.default_rng(3).integers(-4, 5, size=(2, 10))
    for n in range(10):
        np.testing.assert_array_equal(out[n], np.roll(x[n], (dy[n], dx[n]), axis=(-2, -1)))


# --- the experiment on tiny synthetic data ------------------------------------------------------------------------

def synthetic_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 1, 28, 28) images: class c is a bright bar in row band c (learnable in one epoch)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = np.zeros((n, 1, 28, 28), dtype=np.uint8)
    for i, c in enumerate(labels):
        images[i, 0, 4 + 2 * c:6 + 2 * c, 6:22] = 255
    return images, labels


TINY = {"epochs": 1, "batch_size": 16, "max_datapoints": None, "max_shift": 2, "probe_images": 8,
        "probe_shifts": ((2, 2), (4, 4))}


@pytest.fixture(scope="module")
def tiny_result() -> EquivarianceResult:
    return run_equivariance(EquivarianceSettings(**TINY), train=synthetic_mnist(64, 0), val=synthetic_mnist(32, 1))


def test_tiny_run_has_every_part(tiny_result):
    r = tiny_result
    assert set(r.accuracy) == {"mlp", "cnn", "mlp_augmented"}
    assert all(set(v) == {"original", "shifted"} and 0 <= v["shifted"] <= 1 for v in r.accuracy.values())
    assert len(r.curves) == 3 * 3 and all(c.shifts == [0, 1, 2] for c in r.curves)
    for key in r.accuracy:
        assert r.curve(key, "diagonal").at(0) == r.accuracy[key]["original"]
        assert r.curve(key, "diagonal").at(2) == r.accuracy[key]["shifted"]
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
    assert r.n_train == 64 and r.n_val == 32 and all(r.trained.values())
    assert set(r.histories) == {"mlp", "cnn", "mlp_augmented"}
    assert r.seconds["total"] > 0 and "train_cnn" in r.seconds


def test_tiny_run_to_dict_is_json(tiny_result):
    d = json.loads(json.dumps(tiny_result.to_dict()))
    assert d["settings"]["engine"] == "numpy"
    assert d["accuracy"]["cnn"]["original"] == tiny_result.accuracy["cnn"]["original"]
    assert len(d["answers"]) == 3
    assert d["examples"][0]["map_shape"] == [5, 14, 14]


def test_answers_quote_the_measured_numbers(tiny_result):
    (q1, a1), (_q2, a2), (_q3, a3) = tiny_result.answers
    assert "What do you observe" in q1
    acc = tiny_result.accuracy
    assert f"{100 * acc['mlp']['original']:.1f}%" in a1 and f"{100 * acc['cnn']['shifted']:.1f}%" in a1
    assert f"{100 * acc['mlp_augmented']['shifted']:.1f}%" in a2
    assert "0.5 px" in a3  # the 2 px shift is half a cell after two stride-2 layers


def test_answers_follow_the_numbers_not_a_script():
    """If the CNN loses more than the MLP, the text says so (no canned 'the CNN is more robust')."""
    settings = EquivarianceSettings(max_shift=2, augmented_mlp=False, probe_shifts=((2, 2),))
    curves = [AccuracyCurve(k, d, [0, 1, 2], [0.9, 0.8, v]) for k, v in (("mlp", 0.7), ("cnn", 0.3))
              for d in ("right", "down", "diagonal")]
    result = EquivarianceResult(settings=settings, accuracy={"mlp": {"original": 0.9, "shifted": 0.7},
                                                             "cnn": {"original": 0.9, "shifted": 0.3}},
                                curves=curves, layers={}, histories={}, examples=[], seconds={}, n_train=10,
                                n_val=10)
    a1 = answers(result)[0][1]
    assert "the CNN loses 40.0 points more than the MLP" in a1
    assert "less than the MLP" not in a1
    result.accuracy["cnn"]["shifted"] = 0.85
    assert "the CNN loses 15.0 points less than the MLP" in answers(result)[0][1]


def test_pretrained_models_are_used_as_given_and_need_no_training_data():
    mlp = build_model("mnist-mlp", "torch", seed=0)
    cnn = build_model("mnist-cnn", "numpy", seed=0)
    before = {k: v.copy() for k, v in cnn.state_dict().items()}
    settings = EquivarianceSettings(max_shift=1, augmented_mlp=False, probe_images=4, probe_shifts=((2, 2),),
                                    data_root="/nonexistent")
    r = run_equivariance(settings, models={"mlp": mlp, "cnn": cnn}, val=synthetic_mnist(16, 2))
    assert r.trained == {"mlp": False, "cnn": False} and r.histories == {} and r.n_train is None
    assert "train_mlp" not in r.seconds
    for k, v in cnn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="unknown model keys"):
        run_equivariance(settings, models={"resnet": mlp}, val=synthetic_mnist(4, 2))


def test_missing_data_raises_a_clear_error_without_downloading(tmp_path):
    from cnnlab.data import DataNotFoundError

    with pytest.raises(DataNotFoundError):
        run_equivariance(EquivarianceSettings(data_root=str(tmp_path), **TINY))


def test_settings_validation():
    with pytest.raises(ValueError, match="epochs"):
        EquivarianceSettings(epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        EquivarianceSettings(optimizer="rmsprop")
    assert EquivarianceSettings(shift=[3, 1]).shift == (3, 1)


def test_section(tiny_result):
    from cnnlab.report import Section

    sec = section(tiny_result, {"curves": "a.png", "layers": "b.png"})
    assert isinstance(sec, Section)
    assert [f.caption[:10] for f in sec.figures] == ["Validation", "Equivarian"]
    assert len(sec.tables) == 3 and len(sec.paragraphs) == 3
    assert sec.tables[0].rows[0][0] == "MLP"
    assert sec.tables[0].rows[0][2] == f"{100 * tiny_result.accuracy['mlp']['original']:.1f}%"
    assert "\n(2) Strides" in sec.paragraphs[2]
    assert isinstance(LayerEquivariance, type)


def test_answer_wording_follows_the_sign_of_the_change():
    from cnnlab.experiments.equivariance import _moves

    assert _moves(0.9, 0.5) == "falls to 50.0% (-40.0 points)"
    assert _moves(0.5, 0.546) == "rises to 54.6% (+4.6 points)"
    assert _moves(0.5, 0.5001) == "stays at 50.0%"
