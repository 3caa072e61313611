"""LinearSA — refined self-attention of "Less Memory, Faster Speed". Exact re-association; O(N).

SAGAN's projections with the non-local dot-product pairwise function normalised by N. With
`F = f(x), G = g(x) ∈ R^{N×C/8}` and `V = h(x) ∈ R^{N×C}` the quadratic order `(G Fᵀ / N) V` equals the
linear order `G (Fᵀ V / N)`, whose intermediate is a (C/8)×C matrix. The 1/N scale is applied to F before
the product so the intermediate stays bounded in fp16. `out = γ·O`, γ initialised to 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention._common import merge_heads, reduced_channels, split_heads
from effrestore.models.attention._exportable import ExportableAttention, register_custom_op
from effrestore.models.attention._registry import register_attention


def projections(
    x: torch.Tensor, f: torch.Tensor, g: torch.Tensor, h: torch.Tensor, heads: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """F, G as B×h×N×c and V as B×h×N×d (row = position), the paper's notation."""
    return tuple(split_heads(F.conv2d(x, w), heads).transpose(-2, -1) for w in (f, g, h))  # type: ignore[return-value]


@register_attention("linear_sa")
@register_custom_op
class LinearSA(ExportableAttention):
    op_name = "LinearSA"
    weight_names = ("f", "g", "h", "gamma")
    attribute_names = ("heads",)

    def __init__(self, dim: int, heads: int = 1, *, reduction: int = 8) -> None:
        super().__init__()
        self.heads = heads
        qk = reduced_channels(dim, heads, reduction) * heads
        self.f = nn.Conv2d(dim, qk, 1, bias=False)
        self.g = nn.Conv2d(dim, qk, 1, bias=False)
        self.h = nn.Conv2d(dim, dim, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def weights(self) -> tuple[torch.Tensor, ...]:
        return (self.f.weight, self.g.weight, self.h.weight, self.gamma)

    def projections(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return projections(x, self.f.weight, self.g.weight, self.h.weight, self.heads)

    @staticmethod
    def functional(  # type: ignore[override]
        x: torch.Tensor, f: torch.Tensor, g: torch.Tensor, h: torch.Tensor, gamma: torch.Tensor, *, heads: int
    ) -> torch.Tensor:
        _, _, height, width = x.shape
        fp, gp, vp = projections(x, f, g, h, heads)
        n = height * width
        context = (fp / n).transpose(-2, -1) @ vp  # B×h×c×d, the (C/8)×C "channel attention" matrix
        out = (gp @ context).transpose(-2, -1)  # B×h×d×N
        return gamma * merge_heads(out, height, width)
