"""Shared helpers of the NumPy-engine tests: torch references and float32-aware comparisons."""

from __future__ import annotations

import numpy as np
import torch

from cnnlab import numpy_nn as nn

RTOL = 1e-4
ATOL = 1e-5


def assert_close(actual, expected, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    """Elementwise closeness with ``atol`` scaled by the magnitude of ``expected`` (float32 sums of many terms)."""
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().cpu().numpy()
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def torch_twin(layer: nn.Module, torch_layer: torch.nn.Module) -> torch.nn.Module:
    """Give ``torch_layer`` the weights of our ``layer`` (through the state_dict interchange)."""
    torch_layer.load_state_dict(nn.to_torch_state_dict(layer.state_dict()))
    return torch_layer


def run_both(layer: nn.Module, torch_layer: torch.nn.Module, x: np.ndarray, grad: np.ndarray | None = None,
             rng: np.random.Generator | None = None):
    """Forward and backward through both; returns (ours, theirs) dicts with 'y', 'dx' and each parameter grad."""
    rng = rng or np.random.default_rng(0)
    layer.zero_grad()
    y = layer(x)
    if grad is None:
        grad = rand(rng, *y.shape)
    dx = layer.backward(grad)
    ours = {"y": y, "dx": dx, **{name: p.grad.copy() for name, p in layer.named_parameters()}}
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_layer(xt)
    yt.backward(torch.from_numpy(grad))
    theirs = {"y": yt.detach().numpy(), "dx": xt.grad.numpy(),
              **{name: p.grad.numpy() for name, p in torch_layer.named_parameters()}}
    return ours, theirs


def assert_same(ours: dict, theirs: dict, rtol: float = RTOL, atol: float = ATOL, context: str = "") -> None:
    assert set(ours) == set(theirs), (set(ours), set(theirs))
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol, atol, what=f"{key} {context}")


def step_side_by_side(ours: nn.Module, theirs: torch.nn.Module, opt, opt_t, x: np.ndarray, y: np.ndarray) -> None:
    """One cross-entropy optimizer step on ``(x, y)`` of the NumPy net ``ours`` and of its torch twin ``theirs``."""
    opt.zero_grad()
    crit = nn.CrossEntropyLoss()
    crit(ours(x), y)
    ours.backward(crit.backward())
    opt.step()
    opt_t.zero_grad()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    opt_t.step()
