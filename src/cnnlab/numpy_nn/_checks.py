"""Input validation shared by the layers: clear errors that name the layer, what was expected and what arrived."""

from __future__ import annotations

from typing import Any

import numpy as np


class NonFiniteError(ValueError):
    """An array that must be finite holds NaN or inf (e.g. the activations of a diverged network); ``layer`` and
    ``what`` name where (``"conv2: Conv2d(...)"``, ``"input"``)."""

    def __init__(self, message: str, layer: str = "", what: str = "") -> None:
        super().__init__(message)
        self.layer, self.what = layer, what


def as_array(layer: str, x: Any, what: str = "input") -> np.ndarray:
    """``x`` as an ndarray; a torch tensor gets a ``TypeError`` saying how to convert it."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        raise TypeError(f"{layer}: {what} is a torch.Tensor; the NumPy engine takes NumPy arrays "
                        f"(use x.detach().cpu().numpy())")
    try:
        return np.asarray(x)
    except Exception as error:  # pragma: no cover - exotic objects
        raise TypeError(f"{layer}: {what} must be a NumPy array, got {type(x).__name__}") from error


def check_float(layer: str, x: Any, what: str = "input", finite: bool = True) -> np.ndarray:
    """Return ``x`` as a floating-point ndarray or raise.

    ``TypeError`` for integer/bool/complex/object data (with the usual cause: uint8 images not converted),
    :class:`NonFiniteError` (a ``ValueError``) for NaN or infinite entries when ``finite`` (checked with two cheap
    reductions).
    """
    x = as_array(layer, x, what)
    if not np.issubdtype(x.dtype, np.floating):
        hint = ""
        if x.dtype == np.uint8:
            hint = " uint8 images? Convert with x.astype(np.float32) / 255 (or cnnlab.data's helpers)."
        raise TypeError(f"{layer}: expected a floating-point {what} (float32), got dtype {x.dtype} with shape "
                        f"{x.shape}.{hint}")
    if finite and x.size and not (np.isfinite(x.max()) and np.isfinite(x.min())):
        bad = ~np.isfinite(x)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteError(f"{layer}: {what} contains {int(bad.sum())} non-finite value(s) (NaN or inf), the "
                             f"first at index {first}: {x[first]!r}. Diverged training or unnormalised data?", layer,
                             what)
    return x


def check_grad(layer: str, grad: Any, expected_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The upstream gradient of a backward call, shape-checked and in the layer's dtype."""
    grad = as_array(layer, grad, "grad_out")
    if grad.shape != tuple(expected_shape):
        raise ValueError(f"{layer}: backward expected grad_out of shape {tuple(expected_shape)} (the shape of the "
                         f"last forward output), got {grad.shape}")
    if not np.issubdtype(grad.dtype, np.floating):
        raise TypeError(f"{layer}: grad_out must be floating point, got dtype {grad.dtype}")
    return grad.astype(dtype, copy=False)


def no_forward_error(layer: str) -> RuntimeError:
    return RuntimeError(f"{layer}: backward() called before forward(); run a forward pass first (backward uses "
                        f"what the most recent forward call stored)")
