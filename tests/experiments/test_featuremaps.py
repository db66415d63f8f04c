"""Feature maps (assignment 000 task 3.3) on hand-built models whose activations are known, for both engines; the
model introspection they rest on; the experiment end to end on the tiny CIFAR-10 files."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab import data, numpy_nn, torch_nn
from cnnlab.errors import UserError
from cnnlab.experiments import featuremaps
from cnnlab.experiments.base import Context, MissingNetwork
from cnnlab.experiments.featuremaps import (
    FeatureMapsRun,
    FeatureMapsSettings,
    choose_images,
    feature_maps,
    normalize_maps,
)
from cnnlab.models import build_model
from cnnlab.models.introspect import first_conv, layer_activations, layer_kind, named_layers
from cnnlab.report.sections import featuremaps as featuremaps_section


def box_model() -> nn.Sequential:
    """conv1: channel 0 sums each 2x2 window, channel 1 is the constant 3 (zero weight, bias 3), channel 2 is minus
    channel 0; relu1; pool1 (max 2x2); flatten; fc (12 -> 2)."""
    conv = nn.Conv2d(1, 3, 2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0] = 1.0
        conv.weight[2] = -1.0
        conv.bias.copy_(torch.tensor([0.0, 3.0, 0.0]))
    fc = nn.Linear(3 * 2 * 2, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.arange(24, dtype=torch.float32).reshape(2, 12) / 24)
        fc.bias.zero_()
    return nn.Sequential(OrderedDict([("conv1", conv), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
                                      ("flatten", nn.Flatten()), ("fc", fc)]))


def numpy_box_model():
    from cnnlab import numpy_nn

    model = numpy_nn.Sequential(OrderedDict([
        ("conv1", numpy_nn.Conv2d(1, 3, 2)), ("relu1", numpy_nn.ReLU()), ("pool1", numpy_nn.MaxPool2d(2)),
        ("flatten", numpy_nn.Flatten()), ("fc", numpy_nn.Linear(12, 2)),
    ]))
    model.load_state_dict(box_model().state_dict())
    return model


def images() -> np.ndarray:
    """Three 5x5 images: a ramp, a single bright pixel, and an empty image."""
    x = np.zeros((3, 1, 5, 5), dtype=np.float32)
    x[0, 0] = np.arange(25, dtype=np.float32).reshape(5, 5)
    x[1, 0, 2, 3] = 1.0
    return x


def box_sums(image: np.ndarray) -> np.ndarray:
    return image[:-1, :-1] + image[1:, :-1] + image[:-1, 1:] + image[1:, 1:]


ENGINES = {"torch": box_model, "numpy": numpy_box_model}


def test_normalize_maps_scales_each_map_on_its_own_and_constant_maps_become_zero():
    a = np.zeros((2, 2, 2, 2))
    a[0, 0] = [[1, 3], [5, 9]]
    a[0, 1] = [[-2, -2], [-2, -2]]  # constant
    a[1, 0] = [[100, 200], [300, 400]]
    a[1, 1] = 0  # all zeros, also constant
    out = normalize_maps(a)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [[0, 0.25], [0.5, 1]])
    np.testing.assert_allclose(out[1, 0], [[0, 1 / 3], [2 / 3, 1]], rtol=1e-6)
    assert not np.isnan(out).any()
    assert (out[0, 1] == 0).all() and (out[1, 1] == 0).all()
    with pytest.raises(ValueError, match="N, C, H, W"):
        normalize_maps(np.zeros((2, 2)))


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_known_activations_of_a_hand_built_model(engine):
    model = ENGINES[engine]()
    x = images()
    acts = layer_activations(model, x)
    assert list(acts) == ["conv1", "relu1", "pool1", "flatten", "fc"]
    for n in range(3):
        np.testing.assert_allclose(acts["conv1"][n, 0], box_sums(x[n, 0]), rtol=1e-6)
        np.testing.assert_allclose(acts["conv1"][n, 1], 3.0)
        np.testing.assert_allclose(acts["conv1"][n, 2], -box_sums(x[n, 0]), rtol=1e-6)
    pooled = np.maximum(acts["conv1"], 0).reshape(3, 3, 2, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_allclose(acts["pool1"], pooled, rtol=1e-6)

    result = feature_maps(model, x, labels=[0, 1, 0], class_names=["zero", "one"])
    assert result.layer_names == ["conv1", "pool1"]
    conv1, pool1 = result.layers
    assert conv1.kind == "conv" and pool1.kind == "pool"
    assert conv1.shape == (3, 3, 4, 4) and pool1.shape == (3, 3, 2, 2)
    assert conv1.channels == [0, 1, 2]  # fewer than 5 channels: all of them
    ramp = box_sums(x[0, 0])
    np.testing.assert_allclose(conv1.maps[0, 0], (ramp - ramp.min()) / (ramp.max() - ramp.min()), rtol=1e-6)
    np.testing.assert_allclose(conv1.maps[0, 2], 1 - conv1.maps[0, 0], atol=1e-6)
    np.testing.assert_allclose(conv1.raw_min[0], [ramp.min(), 3, -ramp.max()])
    # Constant maps (the bias-only channel, every channel of the empty image) are zeros, flagged, never NaN.
    assert conv1.constant[:, 1].all() and conv1.constant[2].all()
    assert (conv1.maps[:, 1] == 0).all() and (conv1.maps[2] == 0).all()
    for layer in result.layers:
        assert not np.isnan(layer.maps).any()
        assert layer.maps.min() >= 0 and layer.maps.max() <= 1
    # pool1 after ReLU: channel 2 (minus the sums) is all zero for every image.
    assert (pool1.zero_fraction[:, 2] == 1).all()
    # The filters are the first convolution's weights; predictions come from the logits.
    assert result.filter_layer == "conv1"
    np.testing.assert_allclose(result.filters, _weight(model))
    assert result.predictions is not None and len(result.predictions) == 3
    assert all(0.5 <= c <= 1 for c in result.confidences)
    assert "label: one" in result.image_title(1)


def _weight(model) -> np.ndarray:
    w = model.conv1.weight
    return w.detach().numpy() if hasattr(w, "detach") else w.data


def test_both_engines_agree():
    x = images()
    a = feature_maps(box_model(), x)
    b = feature_maps(numpy_box_model(), x)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert la.name == lb.name and la.shape == lb.shape
        np.testing.assert_allclose(la.maps, lb.maps, atol=1e-6)


def test_include_relu_and_channel_limit():
    result = feature_maps(box_model(), images(), include_relu=True, n_channels=2)
    assert result.layer_names == ["conv1", "relu1", "pool1"]
    assert all(layer.channels == [0, 1] and layer.maps.shape[1] == 2 for layer in result.layers)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_lenet_layers_for_three_cifar_images(engine):
    model = build_model("lenet", engine, seed=0)
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    result = feature_maps(model, x, model_name="lenet")
    assert result.layer_names == ["conv1", "pool1", "conv2", "pool2"]
    assert [layer.shape[1:] for layer in result.layers] == [(8, 28, 28), (8, 14, 14), (16, 10, 10), (16, 5, 5)]
    assert all(layer.maps.shape[:2] == (3, 5) for layer in result.layers)
    assert result.filters.shape == (8, 3, 5, 5)
    # Display images are the inputs scaled per image to [0, 1].
    assert result.images.shape == (3, 3, 32, 32)
    assert result.images.min() == 0 and np.allclose(result.images.max(axis=(1, 2, 3)), 1)


def test_torch_model_runs_in_eval_mode_and_keeps_its_training_flag():
    model = box_model().train()
    feature_maps(model, images())
    assert model.training


def test_to_dict_is_small_json_with_shapes_and_stats():
    result = feature_maps(build_model("lenet", "torch", seed=0),
                          np.random.default_rng(1).random((3, 3, 32, 32), dtype=np.float32))
    d = result.to_dict()
    text = json.dumps(d)
    assert len(text) < 50_000  # per-map statistics, no pixel arrays
    assert next(layer["shape"] for layer in d["layers"]) == [3, 8, 28, 28]
    first = d["layers"][0]["maps"][0]
    assert set(first) == {"image", "channel", "min", "max", "mean", "zero_fraction", "constant"}
    assert len(d["layers"][0]["maps"]) == 3 * 5
    assert d["filters"]["shape"] == [8, 3, 5, 5]


def test_display_images_uint8_are_divided_by_255():
    x = images()
    shown = (np.arange(75, dtype=np.uint8).reshape(3, 1, 5, 5))
    result = feature_maps(box_model(), x, display=shown)
    np.testing.assert_allclose(result.images, shown / 255.0, rtol=1e-6)


def test_bad_inputs_say_what_is_wrong():
    model = box_model()
    with pytest.raises(ValueError, match=r"single image\? add a batch axis"):
        feature_maps(model, images()[0])
    with pytest.raises(TypeError, match="floating point"):
        feature_maps(model, images().astype(np.uint8))
    with pytest.raises(ValueError, match="n_channels"):
        feature_maps(model, images(), n_channels=0)
    with pytest.raises(ValueError, match="labels"):
        feature_maps(model, images(), labels=[1])
    mlp = build_model("mnist-mlp", "torch", seed=0)
    with pytest.raises(ValueError, match="no layer of kinds"):
        feature_maps(mlp, np.zeros((1, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="no convolution"):
        first_conv(mlp)
    with pytest.raises(TypeError, match="named_children"):
        layer_activations(object(), images())


def test_layer_kind_is_decided_by_the_layer_type_in_every_family():
    assert [layer_kind(m) for m in (nn.Conv2d(1, 1, 1), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.ReLU(), nn.Linear(1, 1),
                                    nn.Flatten(), nn.Dropout(), nn.Tanh())] == [
        "conv", "pool", "pool", "relu", "linear", "flatten", "dropout", "other"]
    assert [layer_kind(m) for m in (torch_nn.Conv2d(1, 1, 1), torch_nn.Linear(1, 1))] == ["conv", "linear"]
    assert [layer_kind(m) for m in (numpy_nn.Conv2d(1, 1, 1), numpy_nn.MaxPool2d(2), numpy_nn.AvgPool2d(2),
                                    numpy_nn.ReLU(), numpy_nn.Linear(1, 1), numpy_nn.Flatten(), numpy_nn.Dropout(),
                                    numpy_nn.Identity())] == [
        "conv", "pool", "pool", "relu", "linear", "flatten", "dropout", "other"]

    class Conv2d:  # the right name, an unregistered type: not a convolution
        pass

    assert layer_kind(Conv2d()) == "other"


def test_named_layers_of_both_engines_and_bad_models():
    for engine in ("torch", "numpy"):
        names = [name for name, _ in named_layers(build_model("lenet", engine, seed=0))]
        assert names[:3] == ["conv1", "relu1", "pool1"] and names[-1] == "fc3"
    with pytest.raises(ValueError, match="has no layers"):
        named_layers(nn.Sequential())


def test_choose_images_prefers_distinct_classes():
    labels = [0, 0, 0, 1, 1, 2]
    chosen = choose_images(labels, 3, seed=0)
    assert sorted(labels[i] for i in chosen) == [0, 1, 2]
    assert choose_images(labels, 3, seed=0) == chosen
    assert len(set(choose_images([5, 5, 5, 5], 3))) == 3
    with pytest.raises(ValueError):
        choose_images([1], 3)


def test_section(tmp_path):
    from cnnlab.report import Section

    result = feature_maps(box_model(), images(), labels=[0, 1, 0], class_names=["zero", "one"], model_name="box")
    path = tmp_path / "grid.png"
    path.write_bytes(b"")
    filters = tmp_path / "filters.png"
    sec = featuremaps_section.section(FeatureMapsRun(result, tmp_path / "run"), {"maps-conv1": path,
                                                                                 "filters": filters})
    assert isinstance(sec, Section)
    assert [f.path for f in sec.figures] == [path, filters]
    assert sec.figures[0].caption.startswith("conv1: one row per image") and "normalised" in sec.figures[0].caption
    assert sec.figures[1].caption.startswith("The learned filters of the first convolution")
    assert [row[:4] for row in sec.tables[0].rows] == [["conv1", "conv", "3 x 4 x 4", 3], ["pool1", "pool", "3 x 2 x 2",
                                                                                           3]]
    conv1 = sec.tables[0].rows[0]
    assert conv1[4] == f"{-box_sums(images()[0, 0]).max():.3g} .. {box_sums(images()[0, 0]).max():.3g}"
    assert conv1[6] == 3 + 2  # the bias-only channel of the 3 images, the other 2 channels of the empty image
    assert sec.settings == {"network": str(tmp_path / "run"), "n_channels": 5, "layers": "conv1, pool1"}
    assert sec.skipped is None and "of the trained box" in sec.intro
    assert sec.paragraphs[0].startswith("Images: image 1, label: zero, pred: ")
    assert "First-layer filters (conv1): 3 filters of 1 x 2 x 2" in sec.paragraphs[1]
    # pool1: channel 2 is zero everywhere (12 pixels), channel 0 of the empty image (4) and of the bright pixel's
    # image away from the pixel (2): exactly half of the 36 pixels, which is not "mostly zero"
    assert float(result.layers[1].zero_fraction.mean()) == 0.5
    assert not any(p.startswith("Mostly zero") for p in sec.paragraphs)
    # Without the ramp: 14 of pool1's 24 pixels are zero, and 56 of conv1's 96 (the empty image, and the windows
    # that miss the bright pixel)
    without_ramp = feature_maps(box_model(), images()[1:])
    paragraphs = featuremaps_section.section(FeatureMapsRun(without_ramp, tmp_path), {}).paragraphs
    assert paragraphs[-1] == ("Mostly zero after ReLU/pooling (more than half of the pixels are 0): conv1 (58%), "
                              "pool1 (58%).")


def test_run_folder_of_an_mlp_has_no_feature_maps(tmp_path, run_folder):
    folder = run_folder("mlp", "mnist-mlp")
    with pytest.raises(UserError, match="the mnist-mlp network has no convolution") as info:
        featuremaps.run(FeatureMapsSettings(weights=folder), Context(tmp_path / "out"))
    assert str(folder) in str(info.value) and "cnnlab train --recipe cifar-lenet" in str(info.value)


def test_without_weights_or_training_the_missing_network_says_how_to_get_one(tmp_path):
    with pytest.raises(MissingNetwork, match="cnnlab train --recipe cifar-lenet"):
        featuremaps.run(FeatureMapsSettings(), Context(tmp_path))




@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"images": 0}, "--images must be at least 1"),
    pytest.param({"images": 11}, "--images must be at most 10"),
    pytest.param({"channels": 0}, "--channels must be at least 1"),
])
def test_settings_are_checked_on_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureMapsSettings(**kwargs)


def test_weights_folder_of_a_cnn_on_mnist(tmp_path, tiny_data_root, run_folder):
    """Any CNN run will do: an (untrained) MNIST CNN's maps of test digits, prepared as its config says."""
    folder = run_folder("cnn", "mnist-cnn", engine="numpy", seed=4, normalization="standard")
    run = featuremaps.run(FeatureMapsSettings(weights=folder, images=2, channels=3, seed=1),
                          Context(tmp_path / "out", data_root=tiny_data_root))
    assert run.weights == folder
    maps = run.maps
    assert maps.model_name == "mnist-cnn (mnist)" and maps.class_names == [str(d) for d in range(10)]
    assert maps.layer_names == ["conv1", "conv2"] and maps.filters.shape == (5, 1, 4, 4)
    assert [layer.maps.shape for layer in maps.layers] == [(2, 3, 14, 14), (2, 3, 7, 7)]
    test = Context(tmp_path, data_root=tiny_data_root).dataset("mnist", "test")
    chosen = choose_images(test.labels, n=2, seed=1)
    assert maps.labels == [int(test.labels[i]) for i in chosen]
    np.testing.assert_allclose(maps.images, test.images[chosen] / 255.0, rtol=1e-6)  # shown as stored
    x, _ = data.prepare(test, "standard")
    expected = feature_maps(build_model("mnist-cnn", "numpy", seed=4), x[chosen], n_channels=3)
    for ours, theirs in zip(maps.layers, expected.layers, strict=True):
        np.testing.assert_allclose(ours.raw_max, theirs.raw_max, rtol=1e-5)
        np.testing.assert_allclose(ours.raw_min, theirs.raw_min, rtol=1e-5)


@pytest.mark.e2e
def test_experiment_trains_the_lenet_when_allowed_and_reuses_it(tmp_path, tiny_data_root):
    context = Context(tmp_path, data_root=tiny_data_root, quick=True, train_missing=True, device="cpu")
    run = featuremaps.run(FeatureMapsSettings(images=3, channels=2), context)
    assert run.weights == tmp_path / "cifar-lenet" and (run.weights / "model.pt").is_file()
    maps = run.maps
    assert maps.model_name == "lenet (cifar10)" and maps.layer_names == ["conv1", "pool1", "conv2", "pool2"]
    assert len(set(maps.labels)) == 3  # three test images of distinct classes
    assert maps.images.shape == (3, 3, 32, 32) and maps.filters.shape == (8, 3, 5, 5)
    stamp = (run.weights / "model.pt").stat().st_mtime_ns
    again = featuremaps.run(FeatureMapsSettings(images=3, channels=2, seed=1), context)
    assert again.weights == run.weights and (run.weights / "model.pt").stat().st_mtime_ns == stamp  # not retrained
    np.testing.assert_array_equal(again.maps.filters, maps.filters)
    data = json.loads(json.dumps(run.to_dict()))
    assert data["weights"] == str(run.weights) and data["model"] == "lenet (cifar10)"
