"""cnnlab.torch_nn.Linear / Conv2d against torch.nn: forward, all gradients, both forms of the fast algorithm, memory
layout, weight surgery, init, state_dict, repr, the LeNet twin."""

from __future__ import annotations

import copy
import pickle
from unittest.mock import patch

import pytest
import torch
import torch.nn.utils.prune
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

import cnnlab.torch_nn.functional as own_functional
from cnnlab import torch_nn
from cnnlab.geometry import resolve_padding
from cnnlab.models import build_model, count_parameters
from cnnlab.torch_nn import conv_depthwise, conv_im2col

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


class GraphForm(nn.Module):
    """Runs ``layer`` in the plain-ops form of the fast algorithm (what scripting, tracing, compiling and vmap get)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with patch.object(conv_im2col, "_functorch_transform_active", lambda: True):
            return self.layer(x)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_graph_form_matches_the_eager_algorithm(case, seed):
    """The plain-ops form (scripting, tracing, compiling, vmap) gives the eager algorithm's numbers and gradients."""
    kwargs, input_shape, dtype = case
    library, own = twins(kwargs, dtype, "im2col", seed)
    x = torch.randn(input_shape, dtype=dtype)

    check_against(own, GraphForm(own), x, ATOL[dtype])
    check_against(library, GraphForm(own), x, ATOL[dtype])


DEPTHWISE = [
    {"in_channels": 6, "out_channels": 6, "kernel_size": 3, "padding": 1, "groups": 6},
    {"in_channels": 4, "out_channels": 4, "kernel_size": (3, 5), "stride": 2, "padding": (1, 2), "groups": 4},
    {"in_channels": 3, "out_channels": 3, "kernel_size": 3, "dilation": 2, "padding": "same", "groups": 3,
     "bias": False, "padding_mode": "reflect"},
]


@pytest.mark.parametrize("size", [(5, 6), (40, 37)], ids=["small map: channels-last taps", "large map: flat runs"])
@pytest.mark.parametrize("kwargs", DEPTHWISE)
def test_depthwise_layers_take_the_tap_path_they_name_and_match_torch(monkeypatch, kwargs, size):
    calls: list[str] = []
    channels_last = conv_depthwise._forward_channels_last
    monkeypatch.setattr(conv_depthwise, "_forward_channels_last", lambda *a: calls.append("cl") or channels_last(*a))
    library, own = twins(kwargs, torch.float64)
    assert conv_depthwise.is_depthwise(own.weight, own.groups)
    check_against(library, own, torch.randn(3, kwargs["in_channels"], *size, dtype=torch.float64), 1e-12)
    assert bool(calls) == (size == (5, 6))  # the path it names


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 13), st.integers(1, 13), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 3), st.integers(0, 3),
       st.sampled_from(["flat runs", "channels-last"]), st.booleans())
def test_depthwise_paths_match_torch_on_any_geometry(channels, h, w, kh, kw, stride, dh, dw, ph, pw, path, chunked):
    """Both depthwise layouts (forced either way), with the input padded chunk by chunk (one image per chunk or the
    whole batch), against torch for any stride, dilation and padding: output and all gradients, float64."""
    if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
        return  # no output position
    kwargs = {"in_channels": channels, "out_channels": channels, "kernel_size": (kh, kw), "stride": stride,
              "dilation": (dh, dw), "padding": (ph, pw), "groups": channels}
    library, own = twins(kwargs, torch.float64)
    with patch.object(conv_depthwise, "FLAT_RUNS_FROM", 0 if path == "flat runs" else 10**9), \
            patch.dict(conv_depthwise.DEPTHWISE_CHUNK_BYTES, {"cpu": 1 if chunked else 2**30}):
        check_against(library, own, torch.randn(3, channels, h, w, dtype=torch.float64), 1e-12)


@pytest.mark.parametrize("size", [(5, 4), (30, 31)], ids=["channels-last taps", "flat runs"])
def test_depthwise_without_some_gradients_and_on_an_empty_batch(size):
    """The depthwise backward computes only what is asked for (the gradient of the unpadded input), and an empty
    batch gives zeros."""
    library, own = twins(DEPTHWISE[0], torch.float64)
    x = torch.randn(2, 6, *size, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 6, *size, dtype=torch.float64)
    dx, dw = conv_depthwise.depthwise_backward(upstream, x.detach(), own.weight.detach(), (1, 1), [1, 1, 1, 1],
                                               (1, 1), need_x=True, need_w=False)
    assert dw is None and dx is not None
    (expected,) = torch.autograd.grad(library(x), x, upstream)
    assert_close(dx, expected, "dx", 1e-12)
    empty = torch.zeros(0, 6, *size, dtype=torch.float64, requires_grad=True)
    own(empty).sum().backward()
    assert own.weight.grad is not None and not own.weight.grad.any()


def test_phase_slices_place_the_input_in_the_padded_phases():
    """Known answers: 5 pixels after 2 zeros (padded positions 2..6) in stride-2 phases of 4 entries; phase 0 holds
    padded positions 0, 2, 4, 6 -> entries 1..3 are pixels 0, 2, 4; phase 1 holds 1, 3, 5, 7 -> entries 1..2 are
    pixels 1, 3."""
    assert conv_depthwise._phase_slices(5, 2, 2, 0, 4) == (slice(1, 4), slice(0, 5, 2))
    assert conv_depthwise._phase_slices(5, 2, 2, 1, 4) == (slice(1, 3), slice(1, 4, 2))
    assert conv_depthwise._phase_slices(3, 0, 1, 0, 3) == (slice(0, 3), slice(0, 3, 1))  # stride 1, no padding


@pytest.mark.parametrize("kwargs", [
    {"in_channels": 3, "out_channels": 8, "kernel_size": 5},  # LeNet conv1
    {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": (2, 3), "padding": 1, "groups": 2},
    {"in_channels": 2, "out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 2,
     "padding_mode": "reflect", "bias": False},
    DEPTHWISE[0],
    DEPTHWISE[1],
])
def test_batch_chunks_give_the_same_result(monkeypatch, kwargs):
    """A tiny chunk budget (one image per column matrix or depthwise chunk) changes nothing, gradients included."""
    library, own = twins(kwargs, torch.float64)
    monkeypatch.setitem(conv_im2col.IM2COL_CHUNK_BYTES, "cpu", 1)
    monkeypatch.setitem(conv_depthwise.DEPTHWISE_CHUNK_BYTES, "cpu", 1)
    check_against(library, own, torch.randn(5, kwargs["in_channels"], 11, 12, dtype=torch.float64), 1e-12)


def test_pieces_cut_large_images_into_row_blocks(monkeypatch):
    """Known answers: whole images while one fits the budget; otherwise each image in the fewest blocks of output
    rows that fit it, heights differing by at most one row (one row per block when a row alone is too large)."""
    x = torch.empty(3, 1, 1, 1)
    Piece = conv_im2col.Piece
    monkeypatch.setitem(conv_im2col.IM2COL_CHUNK_BYTES, "cpu", 1000)
    assert conv_im2col.pieces(x, 10, 50) == [Piece(0, 2, 0, 10), Piece(2, 1, 0, 10)]  # 500 bytes an image
    assert conv_im2col.pieces(x[:1], 10, 300) == [Piece(0, 1, 0, 2), Piece(0, 1, 2, 3), Piece(0, 1, 5, 2),
                                                  Piece(0, 1, 7, 3)]  # 3 rows fit: 4 blocks
    assert conv_im2col.pieces(x[:2], 2, 2000) == [Piece(0, 1, 0, 1), Piece(0, 1, 1, 1), Piece(1, 1, 0, 1),
                                                  Piece(1, 1, 1, 1)]
    assert conv_im2col.pieces(x[:0], 10, 300) == []
    monkeypatch.setitem(conv_im2col.IM2COL_CHUNK_BYTES, "cpu", None)  # no budget: the whole batch
    assert conv_im2col.pieces(x, 10, 300) == [Piece(0, 3, 0, 10)]


@pytest.mark.parametrize("rows_per_block", [1, 2, 3])
@pytest.mark.parametrize("kwargs", [
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2), "stride": (2, 1), "padding": (2, 0),
     "dilation": (2, 1), "groups": 2},
    {"in_channels": 2, "out_channels": 3, "kernel_size": 4, "stride": 3, "padding": "valid", "bias": False},
], ids=["3x3 same", "strided, dilated, grouped", "stride 3 valid"])
def test_row_blocks_match_torch(monkeypatch, kwargs, rows_per_block):
    """Images cut into blocks of output rows (the budget fits ``rows_per_block`` rows of columns, not the image):
    torch's output and every gradient, with the blocks' input rows overlapping where the kernel is taller than the
    stride."""
    library, own = twins(kwargs, torch.float64)
    x = torch.randn(2, kwargs["in_channels"], 13, 10, dtype=torch.float64)
    kh, kw = library.weight.shape[2:]
    out_w = library(x).shape[3]
    row_bytes = kwargs["in_channels"] * kh * kw * out_w * x.element_size()
    monkeypatch.setitem(conv_im2col.IM2COL_CHUNK_BYTES, "cpu", rows_per_block * row_bytes)
    cut: list[conv_im2col.Piece] = []
    original = conv_im2col.pieces

    def recording(*args: object) -> list[conv_im2col.Piece]:
        result = original(*args)
        cut.extend(result)
        return result

    monkeypatch.setattr(conv_im2col, "pieces", recording)
    check_against(library, own, x, 1e-12)
    assert cut and all(0 < piece.rows <= rows_per_block for piece in cut)  # the path under test was taken


@pytest.mark.parametrize("size", [(3, 4), (12, 11)], ids=["few positions: batch-last", "many: per image"])
@pytest.mark.parametrize("chunk_bytes", [1, 4 * 2**20], ids=["image chunks", "one chunk"])
def test_both_forward_layouts_match_torch(monkeypatch, size, chunk_bytes):
    """The eager forward's two ways of multiplying (one long product over the chunk's batch-last columns for maps
    with few output positions, one product per image otherwise) both give torch's output and gradients."""
    kwargs = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "padding": 1, "groups": 2}
    positions = size[0] * size[1]
    assert (positions < conv_im2col.BATCH_LAST_BELOW) == (size == (3, 4))  # each case takes the path it names
    library, own = twins(kwargs, torch.float64)
    monkeypatch.setitem(conv_im2col.IM2COL_CHUNK_BYTES, "cpu", chunk_bytes)
    check_against(library, own, torch.randn(5, 4, *size, dtype=torch.float64), 1e-12)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 12), st.integers(1, 12), st.integers(0, 14), st.integers(0, 14))
def test_taps_that_read_only_padding_are_skipped_exactly(h, w, kh, kw, sh, sw, dh, dw, ph, pw):
    """Large dilations with zero padding: the convolution without the kernel taps that read only padding gives
    torch's output and gradients (the skipped taps' weight gradient is zero, as in torch)."""
    if h + 2 * ph - dh * (kh - 1) - 1 < 0 or w + 2 * pw - dw * (kw - 1) - 1 < 0:
        return  # the kernel does not fit: the usual error, tested elsewhere
    x = torch.randn(2, 3, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, kh, kw, dtype=torch.float64, requires_grad=True)
    expected = F.conv2d(x, weight, None, (sh, sw), (ph, pw), (dh, dw))
    got = own_functional.conv2d(x, weight, None, (sh, sw), (ph, pw), (dh, dw))
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(expected)
    for mine, theirs in zip(torch.autograd.grad(got, (x, weight), upstream),
                            torch.autograd.grad(expected, (x, weight), upstream), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-10)


def test_aspp_rate_36_on_an_8x8_map_is_a_1x1_convolution():
    """DeepLab's ASPP branch at rate 36 on an 8x8 map: only the centre tap reads pixels, so the convolution runs
    as a 1x1 one on the unpadded map (no 80x80 padding, a ninth of the columns)."""
    x, weight = torch.randn(1, 2, 8, 8), torch.randn(3, 2, 3, 3)
    xs, ws, padding = own_functional.skip_padding_only_taps(x, weight, [36, 36, 36, 36], [1, 1], [36, 36])
    assert xs.shape == x.shape and padding == [0, 0, 0, 0]
    assert torch.equal(ws, weight[:, :, 1:2, 1:2])
    assert own_functional.skip_padding_only_taps(x, weight, [1, 1, 1, 1], [1, 1], [1, 1])[2] == [1, 1, 1, 1]


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True)])
def test_backward_computes_only_the_gradients_asked_for(needs):
    """An input that needs no gradient (the first layer's images) gets none, and the others stay right."""
    library, own = twins({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1}, torch.float64)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=needs[0])
    for layer in (library, own):
        layer.weight.requires_grad_(needs[1])
        layer.bias.requires_grad_(needs[2])
    wanted = [t for t, need in zip((x,), needs[:1], strict=True) if need]
    grads_lib = torch.autograd.grad(library(x).square().sum(), wanted + [p for p in library.parameters()
                                                                          if p.requires_grad])
    grads_own = torch.autograd.grad(own(x).square().sum(), wanted + [p for p in own.parameters() if p.requires_grad])
    for g_own, g_lib in zip(grads_own, grads_lib, strict=True):
        assert_close(g_own, g_lib, "gradient", 1e-12)


FINITE_DIFFERENCE_CASES = [{"stride": 2, "padding": 1}, {"padding": 1, "dilation": (1, 2), "groups": 3},
                           {"padding": "same", "groups": 3, "depthwise": True}]


def finite_difference_case(kwargs: dict, algorithm: str) -> tuple:
    """A small float64 convolution ``conv(x, w, b)`` with its inputs, for gradcheck / gradgradcheck."""
    kwargs = dict(kwargs)
    out_channels = 3 if kwargs.pop("depthwise", False) else 6
    torch.manual_seed(0)
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(out_channels, 3 // kwargs.get("groups", 1), 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(out_channels, dtype=torch.float64, requires_grad=True)

    def conv(*args: torch.Tensor) -> torch.Tensor:
        return torch_nn.conv2d(*args, **kwargs, algorithm=algorithm)

    return conv, (x, w, b)


@pytest.mark.parametrize("algorithm", torch_nn.CONV_ALGORITHMS)
@pytest.mark.parametrize("kwargs", FINITE_DIFFERENCE_CASES)
def test_finite_difference_gradients(algorithm, kwargs):
    conv, inputs = finite_difference_case(kwargs, algorithm)
    assert torch.autograd.gradcheck(conv, inputs)


@pytest.mark.e2e
@pytest.mark.parametrize("kwargs", FINITE_DIFFERENCE_CASES)
def test_second_derivatives_of_the_hand_written_backward(kwargs):
    """gradgradcheck (float64): the eager algorithm's backward is itself differentiable (seconds per case)."""
    conv, inputs = finite_difference_case(kwargs, "im2col")
    assert torch.autograd.gradgradcheck(conv, inputs)


def test_float32_small_inputs_agree_within_1e6():
    """The assignment's check: mean absolute difference ~1e-8, max below 1e-6 on LeNet's first layer."""
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
    x = torch.zeros(0, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    grads = torch.autograd.grad(own(x).sum(), (x, own.weight, own.bias))
    assert grads[0].shape == x.shape and not grads[1].any() and not grads[2].any()


# ---------------------------------------------------------------------------------------------------- memory layout
def layouts(shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """One tensor of ``shape`` in several memory layouts: contiguous, channels-last, sliced, transposed."""
    n, c, h, w = shape
    base = torch.randn(shape, dtype=torch.float64)
    return {"contiguous": base, "channels-last": base.contiguous(memory_format=torch.channels_last),
            "sliced": torch.randn(n, 2 * c, h, w, dtype=torch.float64)[:, ::2],
            "transposed": torch.randn(n, c, w, h, dtype=torch.float64).transpose(2, 3)}


@pytest.mark.parametrize(("kwargs", "shape"), [
    ({"in_channels": 3, "out_channels": 8, "kernel_size": 5, "padding": 2}, (2, 3, 9, 9)),
    ({"in_channels": 1, "out_channels": 4, "kernel_size": 3}, (2, 1, 6, 6)),  # C = 1: ambiguous layouts
    ({"in_channels": 4, "out_channels": 4, "kernel_size": 1}, (3, 4, 1, 1)),  # 1 x 1 images
    ({"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 4}, (1, 4, 5, 5)),
])
@pytest.mark.parametrize("weight_layout", ["contiguous", "channels-last"])
def test_output_is_laid_out_like_torch(kwargs, shape, weight_layout):
    """Same strides as nn.Conv2d's result (contiguous NCHW unless the input or weight is channels-last)."""
    library, own = twins(kwargs, torch.float64)
    if weight_layout == "channels-last":
        library, own = (m.to(memory_format=torch.channels_last) for m in (library, own))
    for name, x in layouts(shape).items():
        with torch.no_grad():
            expected, actual = library(x), own(x)
        assert actual.stride() == expected.stride(), f"{name} input: strides {actual.stride()} vs {expected.stride()}"
        assert_close(actual, expected, name, 1e-12)


def test_view_flatten_and_dropout_masks_behave_as_after_nn_conv2d():
    """``x.view(N, -1)`` works on the result, and Dropout (filled in memory order) draws the same mask."""
    library, own = twins({"in_channels": 3, "out_channels": 5, "kernel_size": 3}, torch.float64)
    x = torch.randn(4, 3, 9, 9, dtype=torch.float64)
    dropout = nn.Dropout(0.5)
    outputs = []
    for layer in (library, own):
        torch.manual_seed(3)
        outputs.append(dropout(layer(x)).view(x.shape[0], -1))
    assert torch.equal(outputs[0] == 0, outputs[1] == 0)
    assert_close(outputs[1], outputs[0], "dropout output", 1e-12)


def test_geometry_is_read_from_the_weight_at_call_time():
    """Weight surgery: a bigger kernel (and a new padding) computes what nn.Conv2d computes with the same edit."""
    library, own = twins({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": "same"}, torch.float64)
    new_weight = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    for layer in (library, own):
        layer.weight = nn.Parameter(new_weight.clone())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    check_against(library, own, x, 1e-12)
    for layer in (library, own):
        layer.padding = (0, 0)
    check_against(library, own, x, 1e-12)
    for layer in (library, own):
        layer.weight = nn.Parameter(torch.randn(4, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError):
        library(x)
    with pytest.raises(RuntimeError, match="expected input with 2 channels"):
        own(x)


def test_padding_sides_agree_with_the_geometry_module():
    """The TorchScript-compatible padding helper equals cnnlab.geometry.resolve_padding."""
    for padding in ("same", "valid", (0, 0), (2, 1)):
        for kernel in ((1, 1), (3, 4), (5, 2)):
            for dilation in ((1, 1), (2, 3)):
                (top, bottom), (left, right) = resolve_padding(padding, kernel, dilation, (1, 1))
                assert own_functional.padding_sides(padding, list(kernel), list(dilation)) == [left, right, top,
                                                                                                 bottom]


def test_functional_conv2d_takes_torchs_arguments():
    torch.manual_seed(0)
    x, b = torch.randn(2, 4, 9, 8, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    for kwargs in ({}, {"stride": 2, "padding": 1}, {"padding": "same", "dilation": (2, 1)}, {"groups": 2},
                   {"stride": (1, 2), "padding": (2, 0), "groups": 2}):
        w = torch.randn(6, 4 // kwargs.get("groups", 1), 3, 2, dtype=torch.float64)
        assert_close(torch_nn.conv2d(x, w, b, **kwargs), F.conv2d(x, w, b, **kwargs), str(kwargs), 1e-12)
    for algorithm in torch_nn.CONV_ALGORITHMS:
        assert_close(torch_nn.conv2d(x, w, padding_mode="circular", padding=1, groups=2, algorithm=algorithm),
                     F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), w, groups=2), algorithm, 1e-12)
    with pytest.raises(ValueError, match="algorithm"):
        torch_nn.conv2d(x, w, algorithm="fft")


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
    assert isinstance(own, nn.Conv2d) and type(own) is not nn.Conv2d


def test_own_layers_are_torch_subclasses_for_type_based_tools():
    """isinstance-based code (init loops, BN fusion, pruning) treats them as torch's layers and keeps our compute."""
    conv, linear = torch_nn.Conv2d(3, 4, 3, padding=1), torch_nn.Linear(4, 2)
    assert isinstance(conv, nn.Conv2d) and isinstance(linear, nn.Linear)
    bn = nn.BatchNorm2d(4).eval()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    fused = torch.nn.utils.fusion.fuse_conv_bn_eval(conv.eval(), bn)
    assert type(fused) is torch_nn.Conv2d
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        assert_close(fused(x), bn(conv(x)), "fused conv + BN", 1e-5)
    torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.5)
    assert (conv.weight == 0).sum() == conv.weight.numel() // 2
    with torch.no_grad():
        assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1), "pruned", 1e-5)


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

    depthwise = torch_nn.Conv2d(3, 3, 3, groups=3)
    for algorithm in torch_nn.CONV_ALGORITHMS:
        model = build_model("lenet", "torch-own", conv_algorithm=algorithm)
        with Recorder():
            model(torch.randn(2, 3, 32, 32)).sum().backward()
            depthwise(torch.randn(2, 3, 8, 8, requires_grad=True)).sum().backward()
            GraphForm(model)(torch.randn(2, 3, 32, 32)).sum().backward()
    assert not seen & forbidden, f"library ops used: {seen & forbidden}"
    assert torch.Tensor.unfold in seen and torch.addmm in seen and torch.stack in seen  # it sees our own ops
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
