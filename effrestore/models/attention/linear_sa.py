"""LinearSA — refined self-attention of "Less Memory, Faster Speed". Exact re-association; O(N).

SAGAN's projections with the non-local dot-product pairwise function normalised by N. With
`F = f(x), G = g(x) ∈ R^{N×C/8}` and `V = h(x) ∈ R^{N×C}` the quadratic order `(G Fᵀ / N) V` equals the
linear order `G (Fᵀ V / N)`, whose intermediate is a (C/8)×C matrix. The 1/N scale is applied to F before
the product so the intermediate stays bounded in fp16. `out = γ·O`, γ initialised to 0.
"""

from __future__ import annotations

import torch
from torch import nn

from effrestore.models.attention._common import merge_heads, reduced_channels, split_heads
from effrestore.models.attention._registry import register_attention


@register_attention("linear_sa")
class LinearSA(nn.Module):
    def __init__(self, dim: int, heads: int = 1, *, bias: bool = False, reduction: int = 8) -> None:
        super().__init__()
        self.heads = heads
        qk = reduced_channels(dim, heads, reduction) * heads
        self.f = nn.Conv2d(dim, qk, 1, bias=bias)
        self.g = nn.Conv2d(dim, qk, 1, bias=bias)
        self.h = nn.Conv2d(dim, dim, 1, bias=bias)
        self.gamma = nn.Parameter(torch.zeros(1))

    def projections(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """F, G as B×h×N×c and V as B×h×N×d (row = position), the paper's notation."""
        f = split_heads(self.f(x), self.heads).transpose(-2, -1)
        g = split_heads(self.g(x), self.heads).transpose(-2, -1)
        v = split_heads(self.h(x), self.heads).transpose(-2, -1)
        return f, g, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        f, g, v = self.projections(x)
        n = f.shape[-2]
        context = (f / n).transpose(-2, -1) @ v  # B×h×c×d, the (C/8)×C "channel attention" matrix
        out = (g @ context).transpose(-2, -1)  # B×h×d×N
        return self.gamma * merge_heads(out, height, width)
