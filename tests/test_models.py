"""Each seed network is defined once; every layer family builds it with the same keys and shapes."""

from __future__ import annotations

import pytest
import torch

from cnnlab.models import MODELS, build_model, count_parameters, layer_family


@pytest.mark.parametrize(("name", "params"), [("lenet", 64_058), ("mnist-cnn", 5_805), ("mnist-mlp", 79_510)])
def test_parameter_counts(name, params):
    assert count_parameters(build_model(name)) == params


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_and_named_layers(name):
    info = MODELS[name]
    model = build_model(name, seed=0)
    assert model(torch.zeros(2, *info.input_shape)).shape == (2, 10)
    assert all(not key[0].isdigit() for key in model.state_dict())


def test_seed_fixes_initial_weights():
    a, b, c = (build_model("lenet", seed=s) for s in (1, 1, 2))
    torch.testing.assert_close(a.state_dict()["conv1.weight"], b.state_dict()["conv1.weight"])
    assert not torch.equal(a.state_dict()["conv1.weight"], c.state_dict()["conv1.weight"])


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of lenet"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown engine 'jax'"):
        layer_family("jax")
    with pytest.raises(ValueError, match="conv_algorithm applies to the own layers"):
        layer_family("torch", conv_algorithm="naive")
