"""The reference convolution, straight from the assignment's equation 4, one output position at a time.

    y[s, d, i, j] = sum_{c, n, m} x[s, c, i*S + n*D, j*S + m*D] * W[d, c, n, m] + b[d]

with stride ``S``, dilation ``D`` and, for ``groups`` > 1, the sum over the input channels of ``d``'s group only.
Slow (a Python loop over the output positions) and obviously right: the fast algorithm is tested against it.
"""

from __future__ import annotations

import torch


def conv2d_naive(x: torch.Tensor, weight: torch.Tensor, stride: list[int], dilation: list[int],
                 groups: int) -> torch.Tensor:
    """Equation 4 without the bias: ``x`` ``(N, C, H, W)`` already padded, ``weight`` ``(O, C/G, kh, kw)``;
    returns ``(N, O, H_out, W_out)`` (contiguous)."""
    n, _, height, width = x.shape
    out_channels, cin_g, kh, kw = weight.shape
    sh, sw = stride[0], stride[1]
    dh, dw = dilation[0], dilation[1]
    out_h = (height - (kh - 1) * dh - 1) // sh + 1
    out_w = (width - (kw - 1) * dw - 1) // sw + 1
    # (1, G, O/G, C/G, kh, kw): the filters of each group, broadcast against (N, G, 1, C/G, kh, kw) windows.
    w = weight.reshape(1, groups, out_channels // groups, cin_g, kh, kw)
    outputs: list[torch.Tensor] = []
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * sh: i * sh + (kh - 1) * dh + 1: dh, j * sw: j * sw + (kw - 1) * dw + 1: dw]
            window = window.reshape(n, groups, 1, cin_g, kh, kw)
            outputs.append((window * w).sum(dim=(3, 4, 5)).reshape(n, out_channels))
    return torch.stack(outputs, dim=-1).reshape(n, out_channels, out_h, out_w)
