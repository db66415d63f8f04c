"""The graph form of the convolution, and what the eager autograd functions borrow from it.

**Graph form** (:func:`conv2d_graph`): the column matrix of the whole batch stacked from one strided slice per kernel
tap (ONNX has no sliding-window view) and one broadcast ``matmul`` -- plain tensor operations that TorchScript,
``torch.jit.trace``, ``torch.compile``/``torch.export``, the exporters and the ``torch.func`` transforms all handle
and whose backward autograd derives.

The eager algorithms (:mod:`.conv_im2col`, :mod:`.conv_depthwise`) write into preallocated buffers with ``out=``
products and in-place adds, fast but outside what some of autograd's modes can follow; for those they fall back on
the graph form's gradients (:func:`graph_gradients`): a batch of output gradients and a differentiable backward
(:func:`takes_graph_gradients`). Forward-mode AD gets an explicit tangent (:func:`bilinear_tangent`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def output_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """``floor((I - D*(K-1) - 1) / S) + 1`` for an already padded input (see :mod:`cnnlab.geometry`)."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def columns_from_taps(x: torch.Tensor, kernel: list[int], stride: list[int], dilation: list[int],
                      groups: int) -> torch.Tensor:
    """The column matrices of :func:`.conv_im2col.columns` (``(N, G, C/G * kh * kw, H_out * W_out)``), stacked from
    one strided slice per kernel tap: the form that every exporter understands (ONNX has no sliding-window view)."""
    n, channels = x.shape[0], x.shape[1]
    kh, kw = kernel[0], kernel[1]
    out_h = output_size(x.shape[2], kh, stride[0], dilation[0])
    out_w = output_size(x.shape[3], kw, stride[1], dilation[1])
    taps: list[torch.Tensor] = []
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilation[0], j * dilation[1]
            taps.append(x[:, :, top: top + stride[0] * (out_h - 1) + 1: stride[0],
                          left: left + stride[1] * (out_w - 1) + 1: stride[1]])
    return torch.stack(taps, dim=2).reshape(n, groups, channels // groups * kh * kw, out_h * out_w)


def weight_matrices(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """The weight ``(O, C/G, kh, kw)`` as ``(1, G, O/G, C/G * kh * kw)`` matrices (a view)."""
    out_channels = weight.shape[0]
    return weight.reshape(1, groups, out_channels // groups, -1)


def conv2d_graph(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
                 dilation: list[int], groups: int) -> torch.Tensor:
    """im2col (:func:`columns_from_taps`) for the whole batch and one broadcast product (``x`` padded) ->
    ``(N, O, H_out, W_out)``."""
    n = x.shape[0]
    out_channels, _, kh, kw = weight.shape
    out_h = output_size(x.shape[2], kh, stride[0], dilation[0])
    out_w = output_size(x.shape[3], kw, stride[1], dilation[1])
    out = torch.matmul(weight_matrices(weight, groups), columns_from_taps(x, [kh, kw], stride, dilation, groups))
    out = out.reshape(n, out_channels, out_h, out_w)
    return out if bias is None else out + bias.reshape(1, out_channels, 1, 1)


def needs_autograd(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """Whether autograd must see the call: an argument requires a gradient (in grad mode) or carries a forward-mode
    tangent (inside ``torch.autograd.forward_ad.dual_level``)."""
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return True
    return torch.autograd.forward_ad._current_level >= 0 and any(
        torch.autograd.forward_ad.unpack_dual(t).tangent is not None for t in tensors)


def bilinear_tangent(convolve: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                     weight: torch.Tensor, x_dot: torch.Tensor | None, weight_dot: torch.Tensor | None,
                     bias_dot: torch.Tensor | None) -> torch.Tensor:
    """``convolve(x_dot, W) + convolve(x, W_dot) + b_dot``, each term only where its tangent is given (computed on
    detached tensors: the eager algorithm's ``out=`` products take no tangents themselves)."""
    x, weight = x.detach(), weight.detach()
    x_dot = None if x_dot is None else x_dot.detach()
    weight_dot = None if weight_dot is None else weight_dot.detach()
    parts = []
    if x_dot is not None:
        parts.append(convolve(x_dot, weight))
    if weight_dot is not None:
        parts.append(convolve(x, weight_dot))
    if not parts:  # only the bias has a tangent: a zero map of the output's shape to add it to
        parts.append(convolve(x, torch.zeros_like(weight)))
    tangent = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    return tangent if bias_dot is None else tangent + bias_dot.view(1, -1, 1, 1)


def takes_graph_gradients(grad: torch.Tensor) -> bool:
    """Whether an eager backward must hand over to :func:`graph_gradients`: when it is given a batch of output
    gradients (torch's legacy vmap, which ``torch.autograd.grad(..., is_grads_batched=True)`` and so
    ``torch.autograd.functional.jacobian(..., vectorize=True)`` run it under: the eager buffers hold one gradient)
    or must itself be differentiable (grad mode on inside the backward: ``create_graph=True``; the eager ``out=``
    products and reused chunk buffers are not)."""
    return torch.is_grad_enabled() or bool(torch._C._functorch.is_legacy_batchedtensor(grad))


def graph_gradients(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                    padding: list[int], dilation: tuple[int, int], groups: int, needs: tuple[bool, ...]
                    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """The gradients of ``x`` (zero-padded by ``padding``, ``[left, right, top, bottom]``), ``weight`` and the bias,
    each if ``needs`` says so, by autograd through the graph form (:func:`conv2d_graph`), whose operations all
    have batching rules and derivatives (see :func:`takes_graph_gradients`); differentiable itself where grad mode
    is on (double backward, gradient penalties)."""
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        xs = x if create_graph else x.detach().requires_grad_(needs[0])
        ws = weight if create_graph else weight.detach().requires_grad_(needs[1])
        padded = torch.nn.functional.pad(xs, padding) if max(padding) > 0 else xs
        out = conv2d_graph(padded, ws, None, [stride[0], stride[1]], [dilation[0], dilation[1]], groups)
        wanted = [t for t, need in ((xs, needs[0]), (ws, needs[1])) if need]
        found = iter(torch.autograd.grad(out, wanted, grad, create_graph=create_graph) if wanted else ())
    dx = next(found) if needs[0] else None
    dw = next(found) if needs[1] else None
    return dx, dw, grad.sum(dim=(0, 2, 3)) if needs[2] else None
