"""Each seed network is defined once; every layer family builds it with the same keys and shapes; the family
registry validates algorithms and devices; introspection classifies layers by type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab import numpy_nn, torch_nn
from cnnlab.models import (
    FAMILIES,
    MODELS,
    all_conv_algorithms,
    build_model,
    build_torch_model,
    count_parameters,
    get_family,
)
from cnnlab.models.introspect import first_conv, layer_activations, layer_kind, named_layers, receptive_fields


@pytest.mark.parametrize(("name", "params"), [("lenet", 64_058), ("mnist-cnn", 5_805), ("mnist-mlp", 23_860),
                                              ("cifar-resnet", 464_170), ("bnres-plain", 19_178),
                                              ("bnres-bn-skip", 19_322)])
@pytest.mark.parametrize("engine", sorted(FAMILIES))
def test_parameter_counts_in_every_family(name, params, engine):
    assert count_parameters(build_model(name, engine)) == params


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_and_named_layers(name):
    info = MODELS[name]
    model = build_model(name, seed=0)
    assert model(torch.zeros(2, *info.input_shape)).shape == (2, 10)
    assert all(not key[0].isdigit() for key in model.state_dict())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_numpy_twin_loads_the_torch_weights_and_agrees(name):
    torch_model = build_model(name, "torch", seed=3)
    numpy_model = build_model(name, "numpy")
    numpy_model.load_state_dict(torch_model.state_dict())
    x = np.random.default_rng(0).standard_normal((3, *MODELS[name].input_shape)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(numpy_model(x), expected, atol=1e-5)


def test_seed_fixes_initial_weights():
    a, b, c = (build_model("lenet", seed=s) for s in (1, 1, 2))
    torch.testing.assert_close(a.state_dict()["conv1.weight"], b.state_dict()["conv1.weight"])
    assert not torch.equal(a.state_dict()["conv1.weight"], c.state_dict()["conv1.weight"])


def test_families_and_their_algorithms():
    assert set(FAMILIES) == {"torch", "torch-own", "numpy"}
    assert get_family("torch").conv_algorithms == ()
    assert get_family("numpy").conv_algorithms == tuple(numpy_nn.CONV_ALGORITHMS)
    assert get_family("torch-own").conv_algorithms == tuple(torch_nn.CONV_ALGORITHMS)
    assert set(all_conv_algorithms()) == set(numpy_nn.CONV_ALGORITHMS) | set(torch_nn.CONV_ALGORITHMS)
    conv = build_model("lenet", "numpy", conv_algorithm="loops2").conv1
    assert conv.algorithm == "loops2"


def test_bad_names_and_combinations_are_rejected():
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of lenet"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown engine 'jax'"):
        get_family("jax")
    with pytest.raises(ValueError, match="engine 'torch' uses the library's own convolution"):
        build_model("lenet", "torch", conv_algorithm="naive")
    with pytest.raises(ValueError, match="engine 'torch-own' has no conv algorithm 'loops2'; choose one of"):
        build_model("lenet", "torch-own", conv_algorithm="loops2")
    with pytest.raises(ValueError, match="engine 'numpy' runs on cpu only; got device 'cuda'"):
        get_family("numpy").check(device="cuda")
    with pytest.raises(ValueError, match="does not build torch modules"):
        build_torch_model("lenet", "numpy")


@pytest.mark.parametrize("engine", sorted(FAMILIES))
def test_layer_kinds_by_type_in_every_family(engine):
    model = build_model("lenet", engine)
    kinds = [layer_kind(layer) for _, layer in named_layers(model)]
    assert kinds == ["conv", "relu", "pool", "conv", "relu", "pool", "flatten", "linear", "relu", "linear", "relu",
                     "linear"]
    assert layer_kind(object()) == "other"

    class MyConvolutionLikeName:  # a class name that merely contains "conv" is not a convolution
        pass

    assert layer_kind(MyConvolutionLikeName()) == "other"


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_activations_and_first_conv(engine):
    model = build_model("mnist-cnn", engine, seed=0)
    model.train()
    x = np.zeros((2, 1, 28, 28), np.float32)
    outputs = layer_activations(model, x)
    assert list(outputs) == ["conv1", "relu1", "conv2", "relu2", "flatten", "fc1"]
    assert outputs["conv2"].shape == (2, 10, 7, 7) and outputs["fc1"].dtype == np.float32
    assert model.training  # the mode is restored
    name, weight = first_conv(model)
    assert name == "conv1" and weight.shape == (5, 1, 4, 4)
    with pytest.raises(ValueError, match="no convolution layer"):
        first_conv(build_model("mnist-mlp", engine))
    with pytest.raises(ValueError, match=r"a single image\? add a batch axis"):
        layer_activations(model, x[0])


def test_receptive_fields_of_the_seed_cnn():
    fields = receptive_fields(build_model("mnist-cnn"), (28, 28))
    y, _ = fields["conv1"]
    assert (y.offset, y.stride, y.extent) == (-1, 2, 4)  # padding 1, stride 2, kernel 4
    y, _ = fields["relu2"]
    assert (y.offset, y.stride, y.extent) == (-3, 4, 10)
    assert fields["flatten"] is None and fields["fc1"] is None
