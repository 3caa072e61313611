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
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention._common import transposed_attention
from effrestore.models.attention._exportable import ExportableAttention, register_custom_op
from effrestore.models.attention._registry import register_attention


@register_attention("glmha")
@register_custom_op
class GLMHA(ExportableAttention):
    op_name = "GLMHA"
    weight_names = (
        "q",
        "q_dwconv",
        "kv",
        "kv_dwconv",
        "guide_in",
        "guide_in_bias",
        "guide_out",
        "guide_out_bias",
        "project_out",
        "temperature",
    )
    attribute_names = ("heads", "rank")

    def __init__(self, dim: int, heads: int = 1, *, rank: int | None = None) -> None:
        super().__init__()
        head_dim = dim // heads
        self.heads = heads
        self.rank = rank if rank is not None else max(1, head_dim // 4)
        if not 1 <= self.rank <= head_dim:
            raise ValueError(f"rank must be in [1, {head_dim}] (the head dimension), got {self.rank}")
        kv = 2 * heads * self.rank
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=False)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.kv = nn.Conv2d(dim, kv, 1, bias=False)
        self.kv_dwconv = nn.Conv2d(kv, kv, 3, padding=1, groups=kv, bias=False)
        hidden = max(1, dim // 4)
        self.guide = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, kv), nn.Sigmoid())
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def weights(self) -> tuple[torch.Tensor, ...]:
        return (
            self.q.weight,
            self.q_dwconv.weight,
            self.kv.weight,
            self.kv_dwconv.weight,
            self.guide[0].weight,
            self.guide[0].bias,
            self.guide[2].weight,
            self.guide[2].bias,
            self.project_out.weight,
            self.temperature,
        )

    @staticmethod
    def functional(  # type: ignore[override]
        x: torch.Tensor,
        q: torch.Tensor,
        q_dwconv: torch.Tensor,
        kv: torch.Tensor,
        kv_dwconv: torch.Tensor,
        guide_in: torch.Tensor,
        guide_in_bias: torch.Tensor,
        guide_out: torch.Tensor,
        guide_out_bias: torch.Tensor,
        project_out: torch.Tensor,
        temperature: torch.Tensor,
        *,
        heads: int,
        rank: int,
    ) -> torch.Tensor:
        hidden = F.gelu(F.linear(x.mean(dim=(2, 3)), guide_in, guide_in_bias))
        gate = torch.sigmoid(F.linear(hidden, guide_out, guide_out_bias))[:, :, None, None]  # instance guidance
        keys_values = F.conv2d(F.conv2d(x, kv), kv_dwconv, padding=1, groups=kv_dwconv.shape[0]) * gate
        k, v = keys_values.chunk(2, dim=1)
        queries = F.conv2d(F.conv2d(x, q), q_dwconv, padding=1, groups=q_dwconv.shape[0])
        return F.conv2d(transposed_attention(queries, k, v, temperature, heads), project_out)  # A is d×r per head
