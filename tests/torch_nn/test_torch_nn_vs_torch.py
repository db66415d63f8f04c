"""cnnlab.torch_nn.Linear / Conv2d against torch.nn: forward, all gradients, init, state_dict, repr, the LeNet twin."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.overrides import TorchFunctionMode

import cnnlab.torch_nn.functional as own_functional
from cnnlab import torch_nn
from cnnlab.models import build_model, count_parameters

#: Absolute tolerance per dtype for values of order 1 (sums of up to ~100 products in float32).
ATOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, atol: float) -> None:
    """Max absolute difference within ``atol`` times the size of the values (at least 1), naming the worst index."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    if expected.numel() == 0:
        return
    diff = (actual - expected).abs()
    worst = diff.max().item()
    bound = atol * max(1.0, expected.abs().max().item())
    where = tuple(int(i) for i in torch.nonzero(diff == worst)[0])
    assert worst <= bound, f"{what}: max |difference| {worst:.3g} at index {where} exceeds {bound:.3g}"


def twins(conv_kwargs: dict, dtype: torch.dtype, algorithm: str = "im2col", seed: int = 0) -> tuple[nn.Module, ...]:
    """The library layer and ours with identical parameters."""
    torch.manual_seed(seed)
    library = nn.Conv2d(**conv_kwargs, dtype=dtype)
    own = torch_nn.Conv2d(**conv_kwargs, dtype=dtype, algorithm=algorithm)
    own.load_state_dict(library.state_dict())
    return library, own


def check_against(library: nn.Module, own: nn.Module, x: torch.Tensor, atol: float) -> None:
    """Same output and same gradients for the input and every parameter under a random upstream gradient."""
    x_lib = x.detach().clone().requires_grad_()
    x_own = x.detach().clone().requires_grad_()
    y_lib, y_own = library(x_lib), own(x_own)
    assert_close(y_own, y_lib, "forward", atol)
    upstream = torch.randn_like(y_lib)
    grads_lib = torch.autograd.grad(y_lib, [x_lib, *library.parameters()], upstream)
    grads_own = torch.autograd.grad(y_own, [x_own, *own.parameters()], upstream)
    names = ["input", *(name for name, _ in own.named_parameters())]
    for name, g_own, g_lib in zip(names, grads_own, grads_lib, strict=True):
        assert_close(g_own, g_lib, f"grad of {name}", atol)


@st.composite
def conv_cases(draw: st.DrawFn) -> tuple[dict, tuple[int, ...], torch.dtype]:
    """A random valid Conv2d configuration and input shape, including every option torch offers."""
    groups = draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding_mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding: str | tuple[int, int] = draw(st.sampled_from(["same", "valid", "ints"]))
    stride = (1, 1)
    if padding == "ints":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # inputs large enough for the dilated kernel and for reflect padding (which needs padding < size)
    min_h = max(dilation[0] * (kernel[0] - 1) + 1, 3 * dilation[0] + 1)
    min_w = max(dilation[1] * (kernel[1] - 1) + 1, 3 * dilation[1] + 1)
    shape = (draw(st.integers(min_h, min_h + 6)), draw(st.integers(min_w, min_w + 6)))
    kwargs = {"in_channels": groups * draw(st.integers(1, 3)), "out_channels": groups * draw(st.integers(1, 3)),
              "kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
              "bias": draw(st.booleans()), "padding_mode": padding_mode}
    batch = draw(st.sampled_from([None, 1, 2, 3]))  # None: unbatched (C, H, W)
    input_shape = (kwargs["in_channels"], *shape) if batch is None else (batch, kwargs["in_channels"], *shape)
    return kwargs, input_shape, draw(st.sampled_from([torch.float32, torch.float64]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv2d_im2col_matches_torch_forward_and_gradients(case, seed):
    kwargs, input_shape, dtype = case
    library, own = twins(kwargs, dtype, "im2col", seed)
    check_against(library, own, torch.randn(input_shape, dtype=dtype), ATOL[dtype])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv2d_naive_matches_torch_and_im2col(case, seed):
    kwargs, input_shape, dtype = case
    library, naive = twins(kwargs, dtype, "naive", seed)
    x = torch.randn(input_shape, dtype=dtype)
    check_against(library, naive, x, ATOL[dtype])
    fast = torch_nn.Conv2d(**kwargs, dtype=dtype)
    fast.load_state_dict(naive.state_dict())
    with torch.no_grad():
        assert_close(fast(x), naive(x), "im2col vs naive", ATOL[dtype])


@pytest.mark.parametrize("kwargs", [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 5},  # LeNet conv1
    {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": (2, 3), "padding": 1, "groups": 2},
    {"in_channels": 2, "out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 2,
     "padding_mode": "reflect", "bias": False},
])
def test_im2col_batch_chunks_give_the_same_result(monkeypatch, kwargs):
    """A tiny chunk budget (one image per column matrix) changes nothing, gradients included."""
    library, own = twins(kwargs, torch.float64)
    monkeypatch.setitem(own_functional.IM2COL_CHUNK_BYTES, "cpu", 1)
    check_against(library, own, torch.randn(5, kwargs["in_channels"], 11, 12, dtype=torch.float64), 1e-12)


@pytest.mark.parametrize("kwargs", [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 5},  # LeNet conv1: strips of 4 outputs
    {"in_channels": 6, "out_channels": 6, "kernel_size": (3, 4), "stride": (2, 3), "groups": 2, "padding": (1, 2)},
    {"in_channels": 6, "out_channels": 3, "kernel_size": 4, "dilation": (2, 1), "groups": 3, "bias": False,
     "padding": "same", "padding_mode": "circular"},
])
def test_im2col_strips_of_several_outputs(kwargs):
    """Narrow layers use rows holding the windows of several neighbouring outputs against a banded filter matrix."""
    library, own = twins(kwargs, torch.float64)
    x = torch.randn(3, kwargs["in_channels"], 12, 16, dtype=torch.float64)
    out_w = library(x).shape[-1]
    out_g = kwargs["out_channels"] // kwargs.get("groups", 1)
    assert own_functional._width_tile(out_w, out_g, own.kernel_size[1], own.dilation[1]) > 1
    check_against(library, own, x, 1e-12)


def test_float32_small_inputs_agree_within_1e6():
    """The seed's check: mean absolute difference ~1e-8, max below 1e-6 on LeNet's first layer."""
    library, own = twins({"in_channels": 3, "out_channels": 8, "kernel_size": 5}, torch.float32)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        diff = (library(x) - own(x)).abs()
    assert diff.max().item() < 1e-6, diff.max().item()


def test_empty_batch_and_non_contiguous_inputs():
    library, own = twins({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1}, torch.float64)
    with torch.no_grad():
        assert own(torch.zeros(0, 3, 8, 8, dtype=torch.float64)).shape == (0, 4, 8, 8)
        big = torch.randn(4, 6, 10, 9, dtype=torch.float64)
        for x in (big[:, ::2], big[:, :3, :, 1:], big.contiguous(memory_format=torch.channels_last)[:, 3:]):
            assert_close(own(x), library(x), "non-contiguous input", 1e-12)


def test_output_is_logically_nchw_for_the_next_layer():
    """The im2col result is a channels-last view; any following op sees the usual (N, C, H, W) tensor."""
    library, own = twins({"in_channels": 3, "out_channels": 5, "kernel_size": 3}, torch.float64)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        y = own(x)
        assert y.shape == (2, 5, 7, 7)
        assert torch.equal(y.reshape(2, -1), y.contiguous().view(2, -1))
        assert_close(y.flatten(1), library(x).flatten(1), "flattened", 1e-12)


# ------------------------------------------------------------------------------------------------------------ Linear
@settings(max_examples=40, deadline=None)
@given(in_features=st.integers(1, 12), out_features=st.integers(1, 12), bias=st.booleans(),
       lead=st.lists(st.integers(1, 4), min_size=0, max_size=3), dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 2**16))
def test_linear_matches_torch_forward_and_gradients(in_features, out_features, bias, lead, dtype, seed):
    torch.manual_seed(seed)
    library = nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
    own = torch_nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
    own.load_state_dict(library.state_dict())
    check_against(library, own, torch.randn(*lead, in_features, dtype=dtype), ATOL[dtype])


# ----------------------------------------------------------------------------------------- parameters, init, repr
CONV_CONFIGS = [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 5},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2), "stride": (2, 3), "padding": (1, 0), "dilation": 2,
     "groups": 2, "bias": False, "padding_mode": "circular"},
    {"in_channels": 2, "out_channels": 2, "kernel_size": 4, "padding": "same", "padding_mode": "replicate"},
    {"in_channels": 3, "out_channels": 3, "kernel_size": 3, "padding": "valid", "groups": 3},
]


@pytest.mark.parametrize("kwargs", CONV_CONFIGS)
def test_conv2d_same_parameters_init_and_repr_as_torch(kwargs):
    torch.manual_seed(123)
    library = nn.Conv2d(**kwargs)
    torch.manual_seed(123)
    own = torch_nn.Conv2d(**kwargs)
    assert repr(own) == repr(library)
    shapes = {k: v.shape for k, v in library.state_dict().items()}
    assert {k: v.shape for k, v in own.state_dict().items()} == shapes
    for (name, p_own), p_lib in zip(own.named_parameters(), library.parameters(), strict=True):
        assert isinstance(p_own, nn.Parameter) and p_own.dtype == p_lib.dtype
        assert torch.equal(p_own, p_lib), f"{name}: default initialisation differs from torch under the same seed"
    for attribute in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                      "padding_mode", "transposed", "output_padding"):
        assert getattr(own, attribute) == getattr(library, attribute), attribute


@pytest.mark.parametrize(("in_features", "out_features", "bias"), [(8, 16, True), (400, 128, False), (1, 1, True)])
def test_linear_same_parameters_init_and_repr_as_torch(in_features, out_features, bias):
    torch.manual_seed(7)
    library = nn.Linear(in_features, out_features, bias=bias, dtype=torch.float64)
    torch.manual_seed(7)
    own = torch_nn.Linear(in_features, out_features, bias=bias, dtype=torch.float64)
    assert repr(own) == repr(library)
    for p_own, p_lib in zip(own.parameters(), library.parameters(), strict=True):
        assert p_own.dtype == torch.float64 and torch.equal(p_own, p_lib)


def test_default_init_is_uniform_within_one_over_sqrt_fan_in():
    conv = torch_nn.Conv2d(16, 32, 3)  # fan_in 144: bound 1/12
    linear = torch_nn.Linear(400, 300)  # fan_in 400: bound 1/20
    for layer, bound in ((conv, 1 / 12), (linear, 1 / 20)):
        for p in (layer.weight, layer.bias):
            values = p.detach()
            assert values.abs().max() <= bound
            # spread over the whole interval: uniform has std bound/sqrt(3)
            assert values.abs().max() > 0.9 * bound
            assert abs(values.std().item() - bound / 3**0.5) < 0.15 * bound


def test_state_dict_round_trips_both_ways():
    library = build_model("lenet", "torch", seed=1)
    own = build_model("lenet", "torch-own", seed=2)
    own.load_state_dict(library.state_dict())  # torch -> own (strict)
    back = build_model("lenet", "torch", seed=3)
    back.load_state_dict(own.state_dict())  # own -> torch (strict)
    for key, value in library.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    assert list(own.state_dict()) == list(library.state_dict())


def test_copies_pickles_and_dtype_conversion_keep_working():
    own = torch_nn.Conv2d(3, 4, 3, padding=1, algorithm="naive")
    clone = pickle.loads(pickle.dumps(copy.deepcopy(own)))
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        assert torch.equal(clone(x), own(x))
        assert own.double()(x.double()).dtype == torch.float64
    assert "algorithm=naive" in repr(own)


# ------------------------------------------------------------------------------------------------------- the networks
@pytest.mark.parametrize("algorithm", torch_nn.CONV_ALGORITHMS)
def test_lenet_twin_gives_the_same_logits(algorithm):
    library = build_model("lenet", "torch", seed=0)
    own = build_model("lenet", "torch-own", conv_algorithm=algorithm)
    own.load_state_dict(library.state_dict())
    assert count_parameters(own) == count_parameters(library) == 64_058
    x = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        logits_lib, logits_own = library(x), own(x)
    assert_close(logits_own, logits_lib, f"LeNet logits ({algorithm})", 1e-5)
    assert torch.equal(logits_own.argmax(1), logits_lib.argmax(1))


def test_forward_uses_no_library_linear_or_convolution():
    """The own layers' forward and backward never call torch's linear, conv* or unfold (im2col) functions."""
    functional = torch.nn.functional
    forbidden = {functional.linear, functional.bilinear, functional.conv1d, functional.conv2d, functional.conv3d,
                 functional.conv_transpose2d, functional.unfold, functional.fold, torch.conv2d, torch.convolution,
                 torch._C._nn.linear, torch._C._nn.im2col}
    seen: set = set()

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.add(func)
            return func(*args, **(kwargs or {}))

    for algorithm in torch_nn.CONV_ALGORITHMS:
        model = build_model("lenet", "torch-own", conv_algorithm=algorithm)
        with Recorder():
            model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert not seen & forbidden, f"library ops used: {seen & forbidden}"
    assert torch.Tensor.unfold in seen and torch.addmm in seen  # the recorder does see our own ops
    with Recorder():
        build_model("lenet", "torch")(torch.randn(2, 3, 32, 32))
    assert {functional.conv2d, functional.linear} <= seen  # and would see the library's


def test_modules_run_on_the_meta_device():
    """Shapes only, no data: proves every tensor is created on the input's device (no hidden CPU tensors)."""
    conv = torch_nn.Conv2d(3, 8, 5, stride=2, padding="valid", groups=1, device="meta")
    linear = torch_nn.Linear(8, 4, device="meta")
    assert conv.weight.device.type == "meta"
    y = conv(torch.empty(2, 3, 32, 32, device="meta"))
    assert y.shape == (2, 8, 14, 14) and y.device.type == "meta"
    assert linear(torch.empty(5, 8, device="meta")).shape == (5, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("algorithm", torch_nn.CONV_ALGORITHMS)
def test_cuda_matches_torch(algorithm):
    kwargs = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": (2, 1), "padding": 1, "groups": 2}
    library, own = twins(kwargs, torch.float64, algorithm)
    library, own = library.cuda(), own.cuda()
    check_against(library, own, torch.randn(3, 4, 10, 9, dtype=torch.float64, device="cuda"), 1e-12)
    model = build_model("lenet", "torch-own", conv_algorithm=algorithm).cuda()
    assert model(torch.randn(2, 3, 32, 32, device="cuda")).shape == (2, 10)
