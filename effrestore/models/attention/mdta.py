"""MDTA — multi-Dconv-head transposed attention of Restormer (Zamir et al., CVPR 2022). Exact, official code.

`qkv = DWConv3×3(Conv1×1(x, C→3C))`; q, k L2-normalised over pixels; `A = softmax(τ_h · q̂ k̂ᵀ)` is d×d
per head (the softmax runs over channels, not pixels), `o = A v`, then `project_out`. Linear in N.
Parameter names (`qkv`, `qkv_dwconv`, `project_out`, `temperature`) equal the official ones so released
Restormer checkpoints load with `strict=True`.
"""

from __future__ import annotations

import torch
from torch import nn

from effrestore.models.attention._common import l2_normalize_pixels, merge_heads, split_heads
from effrestore.models.attention._registry import register_attention


@register_attention("mdta")
class MDTA(nn.Module):
    def __init__(self, dim: int, heads: int = 1, *, bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        q = l2_normalize_pixels(split_heads(q, self.heads))
        k = l2_normalize_pixels(split_heads(k, self.heads))
        v = split_heads(v, self.heads)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)  # B×h×d×d
        return self.project_out(merge_heads(attn @ v, height, width))
