"""MDTA — multi-Dconv-head transposed attention of Restormer (Zamir et al., CVPR 2022). Exact, official code.

`qkv = DWConv3×3(Conv1×1(x, C→3C))`; q, k L2-normalised over pixels; `A = softmax(τ_h · q̂ k̂ᵀ)` is d×d
per head (the softmax runs over channels, not pixels), `o = A v`, then `project_out`. Linear in N.
Parameter names (`qkv`, `qkv_dwconv`, `project_out`, `temperature`) equal the official ones so released
Restormer checkpoints load with `strict=True`. Projections are bias-free, as in the released configs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention._common import transposed_attention
from effrestore.models.attention._exportable import ExportableAttention, register_custom_op
from effrestore.models.attention._registry import register_attention


@register_attention("mdta")
@register_custom_op
class MDTA(ExportableAttention):
    op_name = "MDTA"
    weight_names = ("qkv", "qkv_dwconv", "project_out", "temperature")
    attribute_names = ("heads",)

    def __init__(self, dim: int, heads: int = 1) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def weights(self) -> tuple[torch.Tensor, ...]:
        return (self.qkv.weight, self.qkv_dwconv.weight, self.project_out.weight, self.temperature)

    @staticmethod
    def functional(  # type: ignore[override]
        x: torch.Tensor,
        qkv: torch.Tensor,
        qkv_dwconv: torch.Tensor,
        project_out: torch.Tensor,
        temperature: torch.Tensor,
        *,
        heads: int,
    ) -> torch.Tensor:
        mixed = F.conv2d(F.conv2d(x, qkv), qkv_dwconv, padding=1, groups=qkv_dwconv.shape[0])
        q, k, v = mixed.chunk(3, dim=1)
        return F.conv2d(transposed_attention(q, k, v, temperature, heads), project_out)
