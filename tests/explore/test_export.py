"""The explorer's export: weights round-trip bit for bit from every layer family, the geometry the page needs is
exported as the layers define it, and bad networks and run folders give errors that say what is wrong."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from explore.explorefixtures import geometry_network, seed_network, write_run
from torch import nn

from cnnlab.explore import (
    ExportError,
    decode_array,
    encode_array,
    export_network,
    export_trained,
    load_run,
)
from cnnlab.models import build_model
from cnnlab.numpy_nn import to_torch_state_dict
from cnnlab.training import TrainConfig


def test_encode_decode_round_trip_is_exact():
    values = np.array([[0.0, -0.0, 1e-38, -3.4e38], [np.pi, np.float32(0.1), np.inf, -1.5]], dtype=np.float32)
    back = decode_array(encode_array(values), values.shape)
    assert back.dtype == np.float32 and back.tobytes() == values.tobytes()
    pixels = np.arange(256, dtype=np.uint8).reshape(4, 64)
    np.testing.assert_array_equal(decode_array(encode_array(pixels, "u1"), (4, 64), "u1"), pixels)
    with pytest.raises(ValueError, match=r"6 values of <f4 but shape \(2, 2\) needs 4"):
        decode_array(encode_array(np.zeros(6)), (2, 2))


@pytest.mark.parametrize("engine", ["torch", "torch-own", "numpy"])
@pytest.mark.parametrize("model", ["mnist-cnn", "mnist-mlp", "lenet"])
def test_weights_round_trip_exactly_from_every_family(model, engine):
    network = build_model(model, engine, seed=4)
    shape = (3, 32, 32) if model == "lenet" else (1, 28, 28)
    exported = export_network(network, input_shape=shape, model_name=model)
    state = {key: np.asarray(value.detach() if hasattr(value, "detach") else value)
             for key, value in to_torch_state_dict(network.state_dict()).items()}
    weights = exported.weights()
    assert weights.keys() == state.keys()
    for key, value in state.items():
        assert weights[key].tobytes() == value.astype(np.float32).tobytes(), key
    assert exported.parameters == sum(v.size for v in state.values())
    assert exported.label == ("MLP" if model == "mnist-mlp" else "CNN")


def test_the_seed_cnn_exports_its_geometry_and_output_shapes():
    layers = export_network(seed_network("mnist-cnn"), input_shape=(1, 28, 28)).layers
    assert [(layer["name"], layer["kind"]) for layer in layers] == [
        ("conv1", "conv"), ("relu1", "relu"), ("conv2", "conv"), ("relu2", "relu"), ("flatten", "flatten"),
        ("fc1", "linear")]
    conv1 = layers[0]
    assert conv1["kernel"] == [4, 4] and conv1["stride"] == [2, 2] and conv1["dilation"] == [1, 1]
    assert conv1["padding"] == [[1, 1], [1, 1]] and conv1["weight_shape"] == [5, 1, 4, 4]
    assert [layer["output_shape"] for layer in layers] == [[5, 14, 14], [5, 14, 14], [10, 7, 7], [10, 7, 7], [490],
                                                           [10]]
    assert layers[-1]["in_features"] == 490 and layers[-1]["out_features"] == 10


def test_asymmetric_same_padding_dilation_pooling_and_a_missing_bias_are_exported_as_defined():
    layers = {layer["name"]: layer for layer in export_network(geometry_network(), input_shape=(1, 28, 28)).layers}
    assert layers["conv1"]["kernel"] == [3, 2] and layers["conv1"]["stride"] == [2, 1]
    assert layers["conv1"]["padding"] == [[2, 2], [1, 1]] and layers["conv1"]["dilation"] == [2, 1]
    assert layers["conv2"]["padding"] == [[1, 2], [1, 2]]  # 'same' with kernel 4: the odd pixel at the end
    assert decode_array(layers["conv2"]["bias"], [4]).tolist() == [0, 0, 0, 0]
    assert layers["pool1"]["padding"] == [[1, 1], [1, 1]] and layers["pool1"]["stride"] == [2, 2]
    assert layers["pool2"]["dilation"] == [2, 2] and layers["pool2"]["stride"] == [3, 3]
    assert layers["pool2"]["output_shape"] == [4, 2, 5] and layers["fc"]["in_features"] == 40


def test_dropout_is_left_out_and_standardisation_is_kept():
    network = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("drop", nn.Dropout(0.5)),
                                         ("fc", nn.Linear(12, 3))]))
    exported = export_network(network, input_shape=(3, 2, 2), mean=(0.1, 0.2, 0.3), std=(1, 2, 3))
    assert [layer["name"] for layer in exported.layers] == ["flatten", "fc"]
    assert exported.mean == (0.1, 0.2, 0.3) and exported.std == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="one value per input channel"):
        export_network(network, input_shape=(3, 2, 2), mean=(0.5,), std=(1,))


@pytest.mark.parametrize(("layer", "message"), [
    (nn.AvgPool2d(2), "only max pooling"),
    (nn.Conv2d(2, 2, 3, groups=2), "groups=2"),
    (nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode=True"),
    (nn.Flatten(start_dim=2), "start_dim=2"),
    (nn.Tanh(), "not a layer the page computes"),
])
def test_a_layer_the_page_cannot_compute_is_named(layer, message):
    network = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 1)), ("odd", layer)]))
    with pytest.raises(ExportError, match=message) as error:
        export_network(network, input_shape=(1, 8, 8))
    assert "'odd'" in str(error.value) and "MaxPool2d (floor mode)" in str(error.value)


def test_an_input_shape_the_network_does_not_take_is_a_clear_error():
    with pytest.raises(ExportError, match=r"does not accept inputs of shape \(3, 28, 28\)"):
        export_network(seed_network("mnist-cnn"), input_shape=(3, 28, 28))


# --- run folders ---------------------------------------------------------------------------------------------------

def test_load_run_gives_the_saved_weights_and_config(tmp_path):
    folder = write_run(tmp_path / "run", "mnist-cnn", seed=2, normalization="standard")
    model, config = load_run(folder)
    saved = torch.load(folder / "model.pt", weights_only=True)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, saved[key].numpy())
    assert config.model == "mnist-cnn" and type(model).__module__.startswith("cnnlab.numpy_nn")
    exported = export_trained(model, config, source=str(folder))
    assert exported.mean == (0.1307,) and exported.std == (0.3081,) and exported.source == str(folder)
    assert "standardised" in exported.description
    unit = export_trained(model, TrainConfig(model="mnist-cnn"))
    assert unit.mean == (0.0,) and unit.std == (1.0,)


def test_a_folder_that_is_not_a_run_names_every_missing_file(tmp_path):
    with pytest.raises(ExportError, match="is not a folder"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match=r"model\.pt and config\.json are missing"):
        load_run(tmp_path / "empty")
    folder = write_run(tmp_path / "run", "mnist-mlp")
    (folder / "model.pt").unlink()
    with pytest.raises(ExportError, match=r"model\.pt is missing"):
        load_run(folder)


def test_a_broken_or_foreign_run_folder_says_what_is_wrong(tmp_path):
    folder = write_run(tmp_path / "run", "mnist-cnn")
    (folder / "config.json").write_text(json.dumps({"model": "mnist-cnn", "colour": "blue"}))
    with pytest.raises(ExportError, match="not a cnnlab training config"):
        load_run(folder)
    write_run(folder, "mnist-cnn")
    torch.save(seed_network("mnist-mlp").state_dict(), folder / "model.pt")
    with pytest.raises(ExportError, match=r"does not hold the weights of a mnist-cnn.*Missing key"):
        load_run(folder)
    (folder / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match="could not be read as a state_dict of tensors"):
        load_run(folder)
