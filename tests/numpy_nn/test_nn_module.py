"""Parameter, Module and Sequential: registration, traversal, modes, gradients, state_dict interchange, init."""

from __future__ import annotations

import inspect
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

from cnnlab import numpy_nn as nn
from cnnlab.models import MODELS, build_model


def test_parameter_holds_float32_data_and_zero_grad():
    p = nn.Parameter([[1, 2], [3, 4]])
    assert p.data.dtype == np.float32 and p.grad.shape == (2, 2) and not p.grad.any()
    assert p.numel() == 4 and p.shape == (2, 2)
    p.grad += 1
    p.zero_grad()
    assert not p.grad.any()
    with pytest.raises(TypeError, match="floating point"):
        nn.Parameter(np.array(["a"]))


def test_registration_and_traversal_follow_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
            self.head = nn.Linear(2, 3, bias=False)
            self.scale = nn.Parameter(np.ones(1))
            self.note = "not a parameter"

    net = Net()
    assert [name for name, _ in net.named_parameters()] == ["scale", "features.0.weight", "features.0.bias",
                                                           "head.weight"]
    assert [name for name, _ in net.named_children()] == ["features", "head"]
    assert [name for name, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "head"]
    assert len(net.parameters()) == 4 and net.head.bias is None
    assert list(net.state_dict()) == ["scale", "features.0.weight", "features.0.bias", "head.weight"]

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgetful()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict_keys_and_shapes_equal_torch(name):
    ours = build_model(name, engine="numpy", seed=0).state_dict()
    theirs = build_model(name, engine="torch").state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == tuple(theirs[k].shape) for k in ours)
    # float32 parameters and running statistics, int64 batch counters: torch's dtypes
    assert all(str(ours[k].dtype) == str(theirs[k].dtype).removeprefix("torch.") for k in ours)


def test_state_dict_round_trips_both_ways():
    ours = build_model("lenet", engine="numpy", seed=1)
    theirs = build_model("lenet", engine="torch", seed=2)
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))
    other = build_model("lenet", engine="numpy", seed=3)
    other.load_state_dict(theirs.state_dict())  # torch tensors accepted directly
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)
    back = nn.to_numpy_state_dict(theirs.state_dict())
    assert all(isinstance(v, np.ndarray) for v in back.values())


def test_state_dict_returns_copies():
    layer = nn.Linear(2, 2)
    sd = layer.state_dict()
    sd["weight"][:] = 99
    assert not (layer.weight.data == 99).any()


def test_load_state_dict_errors_name_keys_and_shapes():
    model = build_model("mnist-cnn", engine="numpy", seed=0)
    good = model.state_dict()
    missing = OrderedDict((k, v) for k, v in good.items() if k != "fc1.bias")
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: 'fc1.bias'"):
        model.load_state_dict(missing)
    extra = OrderedDict(good, **{"fc2.weight": np.zeros(3)})
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: 'fc2.weight'"):
        model.load_state_dict(extra)
    wrong = OrderedDict(good, **{"conv1.weight": np.zeros((5, 1, 3, 3))})
    with pytest.raises(RuntimeError, match=r"size mismatch for conv1.weight: copying a param with shape \(5, 1, 3, 3\)"
                                           r".*current model is \(5, 1, 4, 4\)"):
        model.load_state_dict(wrong)
    with pytest.raises(RuntimeError, match="size mismatch"):
        model.load_state_dict(wrong, strict=False)
    # nothing was changed by the failed calls; strict=False reports what did not match
    np.testing.assert_array_equal(model.state_dict()["conv1.weight"], good["conv1.weight"])
    result = model.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == []


def test_sequential_indexing_iteration_and_keys():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(seq.state_dict()) == list(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                                              torch.nn.Linear(4, 2)).state_dict())
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is seq[2]
    named = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(1, 1, 1)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_children()] == ["conv1", "act"] and named.conv1 is named[0]
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(TypeError, match=r"not a cnnlab\.numpy_nn Module"):
        nn.Sequential(torch.nn.ReLU())


def test_train_eval_and_zero_grad():
    model = build_model("mnist-cnn", engine="numpy", seed=0)
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    y = model(x)
    model.backward(np.ones_like(y))
    first = model.fc1.weight.grad.copy()
    model(x)
    model.backward(np.ones_like(y))
    np.testing.assert_allclose(model.fc1.weight.grad, 2 * first, rtol=1e-6)  # gradients accumulate
    model.zero_grad()
    assert not any(p.grad.any() for p in model.parameters())


def test_default_init_matches_torch_in_distribution():
    nn.init.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    linear = nn.Linear(500, 1000)
    for layer, fan_in in ((conv, 64 * 9), (linear, 500)):
        bound = 1 / math.sqrt(fan_in)
        w = layer.weight.data
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
        assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)  # U(-b, b) has std b / sqrt(3)
        assert abs(w.mean()) < 0.01 * bound
        assert np.abs(layer.bias.data).max() <= bound
    torch_conv = torch.nn.Conv2d(64, 128, 3)
    assert torch_conv.weight.detach().abs().max().item() <= 1 / math.sqrt(64 * 9)
    grouped = nn.Conv2d(4, 4, 3, groups=2)  # fan_in = in_channels / groups * kh * kw
    assert np.abs(grouped.weight.data).max() <= 1 / math.sqrt(2 * 9)


def test_manual_seed_reproduces_weights():
    a = build_model("lenet", engine="numpy", seed=5).state_dict()
    b = build_model("lenet", engine="numpy", seed=5).state_dict()
    c = build_model("lenet", engine="numpy", seed=6).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])


def test_double_and_float_convert_parameters():
    layer = nn.Linear(2, 2).double()
    assert layer.weight.data.dtype == np.float64 and layer.weight.grad.dtype == np.float64
    assert layer.float().weight.data.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        layer.to(np.int32)


def test_repr_reads_like_torch():
    text = repr(build_model("mnist-cnn", engine="numpy"))
    assert "(conv1): Conv2d(1, 5, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))" in text
    assert "(fc1): Linear(in_features=490, out_features=10, bias=True)" in text


def test_conv_algorithm_is_settable():
    layer = nn.Conv2d(1, 1, 3, algorithm="loops2")
    assert layer.algorithm == "loops2"
    layer.algorithm = "naive"
    assert "algorithm='naive'" in repr(layer)
    with pytest.raises(ValueError, match=r"Conv2d: algorithm must be one of \['naive', 'loops2', 'im2col', 'fast'\], "
                                         r"got 'fft'"):
        layer.algorithm = "fft"
    model = build_model("mnist-cnn", engine="numpy", conv_algorithm="loops2")
    assert model.conv1.algorithm == "loops2"


def test_backward_without_input_gradient_gives_the_same_parameter_gradients():
    for name, shape in (("lenet", (3, 32, 32)), ("mnist-mlp", (1, 28, 28))):
        model = build_model(name, engine="numpy", seed=0)
        crit = nn.CrossEntropyLoss()
        x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
        crit(model(x), np.arange(3))
        assert model.backward(crit.backward()).shape == x.shape
        full = {k: p.grad.copy() for k, p in model.named_parameters()}
        model.zero_grad()
        crit(model(x), np.arange(3))
        assert model.backward(crit.backward(), need_input_grad=False) is None
        for key, param in model.named_parameters():
            np.testing.assert_array_equal(param.grad, full[key], err_msg=key)


def test_conv_algorithms_and_default():
    assert nn.CONV_ALGORITHMS == ("naive", "loops2", "im2col", "fast")
    assert nn.DEFAULT_CONV_ALGORITHM == "fast" and nn.Conv2d(1, 1, 1).algorithm == "fast"
    assert set(nn.kernels.CONV_KERNELS) == set(nn.CONV_ALGORITHMS)
    assert "algorithm" not in repr(nn.Conv2d(1, 1, 1))  # the default is not printed


def _contract_cases() -> dict:
    """A small instance and forward arguments of every public module class of the engine."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    features = rng.standard_normal((3, 4)).astype(np.float32)
    signals = rng.standard_normal((2, 2, 7)).astype(np.float32)
    return {
        "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((4, 3)), (images,)),
        "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(4), (images,)),
        "AvgPool2d": (lambda: nn.AvgPool2d(2), (images,)),
        "BatchNorm1d": (lambda: nn.BatchNorm1d(4), (features,)),
        "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (images,)),
        "Conv1d": (lambda: nn.Conv1d(2, 3, 3, padding="same"), (signals,)),
        "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (images,)),
        "GELU": (nn.GELU, (images,)),
        "GroupNorm": (lambda: nn.GroupNorm(2, 2), (images,)),
        "LayerNorm": (lambda: nn.LayerNorm(4), (features,)),
        "LeakyReLU": (nn.LeakyReLU, (images,)),
        "LogSoftmax": (lambda: nn.LogSoftmax(1), (features,)),
        "NLLLoss": (nn.NLLLoss, (features, np.array([0, 3, 1]))),
        "Residual": (lambda: nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()),
                                         nn.Conv2d(2, 2, 1)), (images,)),
        "Sigmoid": (nn.Sigmoid, (images,)),
        "Softmax": (lambda: nn.Softmax(1), (features,)),
        "Tanh": (nn.Tanh, (images,)),
        "Dropout": (lambda: nn.Dropout(0.5), (images,)),
        "Flatten": (nn.Flatten, (images,)),
        "Identity": (nn.Identity, (images,)),
        "Linear": (lambda: nn.Linear(4, 3), (features,)),
        "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2), (images,)),
        "ReLU": (nn.ReLU, (images,)),
        "Sequential": (lambda: nn.Sequential(nn.ReLU(), nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(),
                                             nn.Linear(48, 2)), (images,)),
        "CrossEntropyLoss": (nn.CrossEntropyLoss, (features, np.array([0, 3, 1]))),
        "MSELoss": (nn.MSELoss, (features, np.zeros_like(features))),
    }


def test_contract_cases_cover_every_public_module():
    public = {name for name in nn.__all__
              if inspect.isclass(getattr(nn, name)) and issubclass(getattr(nn, name), nn.Module) and name != "Module"
              and getattr(nn, name).__name__ == name}  # not aliases (Conv2D, the exercise's name of Conv2d)
    assert public == set(_contract_cases())


@pytest.mark.parametrize("name", sorted(_contract_cases()))
def test_every_module_has_the_one_backward_signature(name):
    """backward(grad_out, *, need_input_grad=True): dL/dinput, or None with the same parameter gradients."""
    make, inputs = _contract_cases()[name]
    keyword = inspect.signature(getattr(nn, name).backward).parameters["need_input_grad"]
    assert keyword.kind is inspect.Parameter.KEYWORD_ONLY and keyword.default is True
    module = make()

    def forward_backward(need_input_grad):
        module.zero_grad()
        nn.init.manual_seed(0)  # the same dropout mask on both calls
        out = module(*inputs)
        grad = 1.0 if np.ndim(out) == 0 else np.ones_like(out)
        return module.backward(grad, need_input_grad=need_input_grad), {k: p.grad.copy()
                                                                         for k, p in module.named_parameters()}

    dx, grads = forward_backward(True)
    assert np.shape(dx) == inputs[0].shape
    nothing, grads_without = forward_backward(False)
    assert nothing is None
    assert grads_without.keys() == grads.keys()
    for key in grads:
        np.testing.assert_array_equal(grads_without[key], grads[key], err_msg=key)


def test_sequential_stops_at_the_first_module_with_parameters():
    calls = []

    class Spy(nn.Module):
        def __init__(self, label):
            super().__init__()
            self.label = label

        def forward(self, x):
            return x

        def backward(self, grad_out, *, need_input_grad=True):
            calls.append((self.label, need_input_grad))
            return grad_out if need_input_grad else None

    class SpyLinear(nn.Linear):
        def backward(self, grad_out, *, need_input_grad=True):
            calls.append(("linear", need_input_grad))
            return super().backward(grad_out, need_input_grad=need_input_grad)

    model = nn.Sequential(Spy("before"), SpyLinear(3, 2), Spy("after"))
    x = np.ones((4, 3), np.float32)
    grad = np.ones((4, 2), np.float32)
    model(x)
    assert model.backward(grad, need_input_grad=False) is None
    assert calls == [("after", True), ("linear", False)]
    calls.clear()
    assert model.backward(grad).shape == x.shape
    assert calls == [("after", True), ("linear", True), ("before", True)]


def test_buffers_are_state_but_not_parameters_as_in_torch():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(2))
            self.register_buffer("total", np.zeros(2, np.float32))
            self.register_buffer("scratch", np.zeros(3, np.float32), persistent=False)
            self.register_buffer("absent", None)

    module = nn.Sequential(OrderedDict([("a", Counter()), ("b", Counter())]))
    assert [name for name, _ in module.named_buffers()] == ["a.total", "a.scratch", "b.total", "b.scratch"]
    assert len(module.parameters()) == 2
    assert list(module.state_dict()) == ["a.scale", "a.total", "b.scale", "b.total"]  # persistent ones only
    module.a.total = np.full(2, 5.0, np.float32)  # assigning replaces the buffer
    assert module.state_dict()["a.total"].tolist() == [5.0, 5.0]
    with pytest.raises(TypeError, match="as buffer 'total'"):
        module.a.total = [1.0, 2.0]
    state = module.state_dict()
    state["b.total"] = np.array([7.0, 8.0])
    module.load_state_dict(state)
    assert module.b.total.tolist() == [7.0, 8.0]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: 'b.total'"):
        module.load_state_dict({k: v for k, v in state.items() if k != "b.total"})
    with pytest.raises(RuntimeError, match=r"size mismatch for a\.total"):
        module.load_state_dict({**state, "a.total": np.zeros(3)})
    module.double()
    assert module.a.total.dtype == np.float64 and module.a.scale.dtype == np.float64


def test_state_dict_with_batch_norm_has_torchs_keys_in_torchs_order():
    def net(lib):
        return lib.Sequential(lib.Conv2d(3, 4, 3, bias=False), lib.BatchNorm2d(4), lib.ReLU(), lib.Flatten(),
                              lib.Linear(4 * 6 * 6, 10), lib.BatchNorm1d(10))

    ours, theirs = net(nn), net(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: tuple(v.shape)
                                                                   for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(nn.to_torch_state_dict(ours.state_dict()))  # both directions, int64 counter included
    ours.load_state_dict(theirs.state_dict())


def test_train_and_eval_switch_every_batch_norm():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Residual(nn.Sequential(nn.BatchNorm2d(2))))
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
