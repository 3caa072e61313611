"""SAGANAttention — the quadratic self-attention of SAGAN (Zhang et al., 2019). Exact.

`f, g: 1×1 C→C/8`, `h: 1×1 C→C`; `β = softmax(f(x)ᵀ g(x))` over positions (N×N); `o = h(x) β`;
`out = γ·o`, γ a learnable scalar initialised to 0 (the host block adds the residual).
Time O(N²C), memory O(N²): kept as the baseline the efficient modules are measured against.
"""

from __future__ import annotations

import torch
from torch import nn

from effrestore.models.attention._common import merge_heads, reduced_channels, split_heads
from effrestore.models.attention._registry import register_attention


@register_attention("sagan")
class SAGANAttention(nn.Module):
    def __init__(self, dim: int, heads: int = 1, *, reduction: int = 8) -> None:
        super().__init__()
        self.heads = heads
        qk = reduced_channels(dim, heads, reduction) * heads
        self.f = nn.Conv2d(dim, qk, 1, bias=False)
        self.g = nn.Conv2d(dim, qk, 1, bias=False)
        self.h = nn.Conv2d(dim, dim, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        f = split_heads(self.f(x), self.heads)  # B×h×c×N
        g = split_heads(self.g(x), self.heads)
        v = split_heads(self.h(x), self.heads)  # B×h×d×N
        scores = f.transpose(-2, -1) @ g  # B×h×N(i)×N(j): s_ij = f_iᵀ g_j
        beta = scores.softmax(dim=-2)  # over i, for each output position j
        out = v @ beta  # o_j = Σ_i β_ij h_i
        return self.gamma * merge_heads(out, height, width)
