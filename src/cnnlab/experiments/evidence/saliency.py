"""Gradient saliency (Simonyan et al. 2014): how much each input pixel moves the true class's score,
``S_n = logit_{y_n}(x_n)``, to first order -- the input gradient ``dS/dx`` -- and the map ``max_c |dS/dx_c|``.

The same gradient two ways: the NumPy engine's hand-written backward passes (``model.backward(g,
need_input_grad=True)`` with ``g`` one-hot at the true class: exactly what training back-propagates, carried one
step further, to the pixels), and torch autograd on a torch twin holding the same weights. :func:`compare_engines`
measures how far apart they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.models import Model, build_model
from cnnlab.models.introspect import is_torch_module
from cnnlab.numpy_nn import to_numpy_state_dict, to_torch_state_dict
from cnnlab.threads import blas_threads


def _checked(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if x.ndim != 4 or len(x) != len(labels):
        raise ValueError(f"x must be (N, C, H, W) with one label per image, got {x.shape} and {len(labels)} labels")
    return x, labels


def numpy_input_gradient(model: Any, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dS/dx (N, C, H, W), logits (N, K))`` from a NumPy-engine model's own backward pass (eval mode).

    The backward also adds parameter gradients; they are cleared afterwards (``zero_grad``)."""
    if is_torch_module(model):
        raise TypeError("numpy_input_gradient needs a cnnlab.numpy_nn model; use torch_input_gradient for torch")
    x, labels = _checked(x, labels)
    was_training = bool(model.training)
    model.eval()
    try:
        with blas_threads(1):
            logits = np.asarray(model(x))
            seed = np.zeros_like(logits)
            seed[np.arange(len(x)), labels] = 1.0
            grad = model.backward(seed, need_input_grad=True)
    finally:
        model.zero_grad()
        model.train(was_training)
    return np.asarray(grad, dtype=np.float32), logits.astype(np.float32)


def torch_input_gradient(model: Any, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dS/dx (N, C, H, W), logits (N, K))`` by torch autograd (eval mode, on the model's device)."""
    import torch

    if not is_torch_module(model):
        raise TypeError("torch_input_gradient needs a torch.nn.Module; use numpy_input_gradient for the NumPy engine")
    x, labels = _checked(x, labels)
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    was_training = bool(model.training)
    model.eval()
    try:
        inputs = torch.from_numpy(x).to(device).requires_grad_(True)
        logits = model(inputs)
        score = logits.gather(1, torch.from_numpy(labels).to(device)[:, None]).sum()
        (grad,) = torch.autograd.grad(score, inputs)
    finally:
        model.train(was_training)
    return grad.detach().cpu().numpy(), logits.detach().float().cpu().numpy()


def saliency_maps(grad: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` saliency: the largest absolute input gradient over the channels of each pixel."""
    return np.abs(np.asarray(grad)).max(axis=1)


def twin(model: Model, architecture: str) -> Model:
    """The same network (``architecture``: a :data:`cnnlab.models.MODELS` name) with the same weights, built from
    the other kind of engine: a torch.nn model for a NumPy-engine one, and the other way round."""
    if is_torch_module(model):
        other = build_model(architecture, "numpy")
        other.load_state_dict(to_numpy_state_dict(model.state_dict()))
    else:
        other = build_model(architecture, "torch")
        other.load_state_dict(to_torch_state_dict(model.state_dict()))
    return other


@dataclass(frozen=True)
class EngineAgreement:
    """dS/dx from the NumPy engine's backward against torch autograd's on ``n_images`` images: the largest absolute
    difference, the largest gradient, their ratio, and the largest logit difference of the two forward passes."""

    n_images: int
    max_abs_diff: float
    max_abs_grad: float
    max_logit_diff: float

    @property
    def relative(self) -> float:
        """``max |numpy - torch| / max |torch|`` (0 when every gradient is 0)."""
        return self.max_abs_diff / self.max_abs_grad if self.max_abs_grad > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"n_images": self.n_images, "max_abs_diff": self.max_abs_diff, "max_abs_grad": self.max_abs_grad,
                "relative": self.relative, "max_logit_diff": self.max_logit_diff}


def compare_engines(numpy_model: Any, torch_model: Any, x: np.ndarray,
                    labels: np.ndarray) -> tuple[np.ndarray, EngineAgreement]:
    """The NumPy engine's input gradient (returned) and how closely torch autograd's matches it."""
    grad_numpy, logits_numpy = numpy_input_gradient(numpy_model, x, labels)
    grad_torch, logits_torch = torch_input_gradient(torch_model, x, labels)
    agreement = EngineAgreement(len(x), float(np.abs(grad_numpy - grad_torch).max()),
                                float(np.abs(grad_torch).max()), float(np.abs(logits_numpy - logits_torch).max()))
    return grad_numpy, agreement
