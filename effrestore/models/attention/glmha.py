"""GLMHA — guided low-rank multi-head self-attention. Our reading of the paper (its method text was not
available); the design below is the one effrestore adopts.

q as in MDTA (`C→C` 1×1 + depthwise 3×3), L2-normalised over pixels. k and v are produced directly at rank
r < d per head (`C→2·h·r` 1×1 + depthwise 3×3; r = d/4 by default), k normalised over pixels. Instance
guidance `g = sigmoid(MLP(GAP(x)))`, MLP `C → C/4 → 2·h·r`, gates the k and v channels per sample.
`A = softmax(τ_h · q̂ k̂_rᵀ)` is d×r per head; `o = A v_r` is d×N; then `project_out`.
Fewer parameters and fewer MACs than MDTA at every N (the d×d attention becomes d×r and the 3C-channel qkv
projection becomes C + 2hr channels); standard ONNX ops only.
"""

from __future__ import annotations

import torch
from torch import nn

from effrestore.models.attention._common import l2_normalize_pixels, merge_heads, split_heads
from effrestore.models.attention._registry import register_attention


@register_attention("glmha")
class GLMHA(nn.Module):
    def __init__(self, dim: int, heads: int = 1, *, bias: bool = False, rank: int | None = None) -> None:
        super().__init__()
        head_dim = dim // heads
        self.heads = heads
        self.rank = rank if rank is not None else max(1, head_dim // 4)
        if not 1 <= self.rank <= head_dim:
            raise ValueError(f"rank must be in [1, {head_dim}] (the head dimension), got {self.rank}")
        kv = 2 * heads * self.rank
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.kv = nn.Conv2d(dim, kv, 1, bias=bias)
        self.kv_dwconv = nn.Conv2d(kv, kv, 3, padding=1, groups=kv, bias=bias)
        hidden = max(1, dim // 4)
        self.guide = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, kv), nn.Sigmoid())
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        gate = self.guide(x.mean(dim=(2, 3)))[:, :, None, None]  # B×2hr×1×1, per-sample instance guidance
        k, v = (self.kv_dwconv(self.kv(x)) * gate).chunk(2, dim=1)
        q = l2_normalize_pixels(split_heads(self.q_dwconv(self.q(x)), self.heads))  # B×h×d×N
        k = l2_normalize_pixels(split_heads(k, self.heads))  # B×h×r×N
        v = split_heads(v, self.heads)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)  # B×h×d×r
        return self.project_out(merge_heads(attn @ v, height, width))
