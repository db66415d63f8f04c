"""Parameter initialisation, identical in distribution to ``torch.nn.init`` and torch's layer defaults.

All random draws of the NumPy engine (initial weights, dropout masks) come from one module-level generator,
so ``manual_seed(seed)`` makes a whole run reproducible, like ``torch.manual_seed``.

Torch's default for ``Linear`` and ``Conv2d`` weights is ``kaiming_uniform_(w, a=sqrt(5))``: with
``gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)`` the bound ``gain * sqrt(3 / fan_in)`` simplifies to
``1 / sqrt(fan_in)``; the bias is ``uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))`` too.
``fan_in`` is ``in_features`` for Linear and ``in_channels / groups * kh * kw`` for Conv2d.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_generator: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the engine's default generator (weights, dropout masks); returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The engine's default generator (reseeded by :func:`manual_seed`)."""
    return _generator


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def calculate_fan_in_and_fan_out(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` as torch computes them (``(out, in, *kernel)``)."""
    return _fans(shape)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain of ``torch.nn.init.calculate_gain`` for the common non-linearities."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def uniform_(array: np.ndarray, low: float = 0.0, high: float = 1.0,
             generator: np.random.Generator | None = None) -> np.ndarray:
    """Fill ``array`` in place with draws from ``U(low, high)``; returns it."""
    rng = generator or _generator
    array[...] = rng.uniform(low, high, size=array.shape)
    return array


def kaiming_uniform_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> np.ndarray:
    """He/Kaiming uniform init in place: ``U(-b, b)`` with ``b = gain * sqrt(3 / fan)`` (as torch)."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(array.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(array, -bound, bound, generator)


def default_weight_and_bias_(weight: np.ndarray, bias: np.ndarray | None,
                             generator: np.random.Generator | None = None) -> None:
    """Torch's ``reset_parameters`` of Linear/Conv2d: ``kaiming_uniform_(a=sqrt(5))`` and a matching bias."""
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = _fans(weight.shape)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, generator)
