"""Bad constructor arguments and bad inputs raise the same exception types as torch.nn, with clearer messages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab import torch_nn


def raised(make, call=None) -> type[BaseException] | None:
    """The exception type of ``make()`` (or of ``call(make())``), ``None`` if it succeeds."""
    try:
        module = make()
        if call is not None:
            call(module)
    except Exception as exc:
        return type(exc)
    return None


CONV_ARGS = [
    pytest.param({"groups": 0}, id="groups 0"),
    pytest.param({"groups": 2}, id="in_channels not divisible by groups"),
    pytest.param({"in_channels": 4, "out_channels": 6, "groups": 4}, id="out_channels not divisible by groups"),
    pytest.param({"padding": "full"}, id="unknown padding string"),
    pytest.param({"padding": "same", "stride": 2}, id="same padding with stride"),
    pytest.param({"padding_mode": "mirror"}, id="unknown padding mode"),
    pytest.param({"kernel_size": 3.0}, id="float kernel size"),
]


@pytest.mark.parametrize("changes", CONV_ARGS)
def test_conv2d_bad_arguments_raise_like_torch(changes):
    kwargs = {"in_channels": 3, "out_channels": 8, "kernel_size": 3, **changes}
    expected = raised(lambda: nn.Conv2d(**kwargs))
    assert expected is not None
    assert raised(lambda: torch_nn.Conv2d(**kwargs)) is expected


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op")
@pytest.mark.parametrize(("changes", "error"), [
    ({"kernel_size": 0}, ValueError), ({"stride": 0}, ValueError), ({"padding": -1}, ValueError),
    ({"dilation": 0}, ValueError), ({"in_channels": 0}, ValueError), ({"kernel_size": (3, 3, 3)}, ValueError),
    ({"stride": (1.5, 1)}, TypeError),
])
def test_conv2d_arguments_torch_only_rejects_when_called_fail_at_construction(changes, error):
    """torch builds these layers and fails on the first forward; we say so at once."""
    kwargs = {"in_channels": 3, "out_channels": 8, "kernel_size": 3, **changes}
    assert raised(lambda: nn.Conv2d(**kwargs)) is None
    assert raised(lambda: nn.Conv2d(**kwargs), lambda m: m(torch.randn(1, 3, 8, 8))) is not None
    with pytest.raises(error):
        torch_nn.Conv2d(**kwargs)


def test_unknown_algorithm_is_a_value_error():
    with pytest.raises(ValueError, match="algorithm"):
        torch_nn.Conv2d(3, 8, 3, algorithm="winograd")


@pytest.mark.parametrize(("args", "kwargs"), [((-1, 3), {}), ((3.0, 3), {}), ((3, 3), {"dtype": torch.int64})])
def test_linear_bad_arguments_raise_like_torch(args, kwargs):
    expected = raised(lambda: nn.Linear(*args, **kwargs))
    assert expected is not None
    assert raised(lambda: torch_nn.Linear(*args, **kwargs)) is expected


CONV_INPUTS = [
    pytest.param(torch.randn(2, 4, 8, 8), "expected input with 3 channels", id="wrong channels"),
    pytest.param(torch.randn(2, 8, 8, 3), "channels-last", id="NHWC"),
    pytest.param(torch.randn(8, 8, 3), "channels-last", id="unbatched HWC"),
    pytest.param(torch.randn(2, 1, 8, 8), "grayscale", id="grayscale for RGB"),
    pytest.param(torch.randn(8, 8), "3-D", id="2-D input"),
    pytest.param(torch.randn(1, 2, 3, 8, 8), "4-D", id="5-D input"),
    pytest.param(torch.randn(1, 3, 2, 8), "kernel", id="input smaller than kernel"),
    pytest.param(torch.randn(1, 3, 8, 8, dtype=torch.float64), "dtype", id="float64 into float32 layer"),
    pytest.param(torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8), "x.float", id="uint8 pixels"),
]


@pytest.mark.parametrize(("x", "message"), CONV_INPUTS)
def test_conv2d_bad_inputs_raise_runtime_error_like_torch(x, message):
    torch.manual_seed(0)
    library = nn.Conv2d(3, 8, 3)
    assert raised(lambda: library, lambda m: m(x)) is RuntimeError
    for algorithm in torch_nn.CONV_ALGORITHMS:
        with pytest.raises(RuntimeError, match=message):
            torch_nn.Conv2d(3, 8, 3, algorithm=algorithm)(x)


@pytest.mark.parametrize(("mode", "padding", "size"), [("reflect", 3, 3), ("circular", 5, 4)])
def test_padding_larger_than_the_input_fails_like_torch(mode, padding, size):
    x = torch.randn(1, 3, size, size)
    kwargs = {"in_channels": 3, "out_channels": 2, "kernel_size": 3, "padding": padding, "padding_mode": mode}
    assert raised(lambda: nn.Conv2d(**kwargs), lambda m: m(x)) is RuntimeError
    with pytest.raises(RuntimeError):
        torch_nn.Conv2d(**kwargs)(x)


LINEAR_INPUTS = [
    pytest.param(torch.randn(2, 5), "\\(\\*, 4\\)", id="wrong features"),
    pytest.param(torch.randn(2, 1, 2, 2), "Flatten", id="images not flattened"),
    pytest.param(torch.tensor(1.0), "\\(\\*, 4\\)", id="0-D"),
    pytest.param(torch.randn(2, 4, dtype=torch.float64), "dtype", id="float64 into float32 layer"),
]


@pytest.mark.parametrize(("x", "message"), LINEAR_INPUTS)
def test_linear_bad_inputs_raise_runtime_error_like_torch(x, message):
    assert raised(lambda: nn.Linear(4, 3), lambda m: m(x)) is RuntimeError
    with pytest.raises(RuntimeError, match=message):
        torch_nn.Linear(4, 3)(x)


def test_error_message_says_what_was_expected_and_received():
    with pytest.raises(RuntimeError) as info:
        torch_nn.Conv2d(3, 8, 5)(torch.zeros(4, 32, 32, 3))
    message = str(info.value)
    assert "(N, 3, H, W)" in message and "(4, 32, 32, 3)" in message and "permute(0, 3, 1, 2)" in message


def test_weight_surgery_with_mismatched_parts_fails_like_torch():
    """The geometry comes from the actual weight and bias at call time, as in torch: bad edits fail when called."""
    x = torch.randn(1, 3, 8, 8)
    for edit, message in ((lambda m: setattr(m, "bias", nn.Parameter(torch.zeros(5))), "bias of shape \\(8,\\)"),
                          (lambda m: setattr(m, "weight", nn.Parameter(torch.zeros(8, 3, 3))), "4-D weight"),
                          (lambda m: setattr(m, "weight", nn.Parameter(torch.zeros(7, 3, 3, 3))), "bias of shape")):
        library, own = nn.Conv2d(3, 8, 3), torch_nn.Conv2d(3, 8, 3)
        edit(library), edit(own)
        with pytest.raises(RuntimeError):
            library(x)
        with pytest.raises(RuntimeError, match=message):
            own(x)
