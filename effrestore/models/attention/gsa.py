"""GSA — global self-attention with content and positional branches (Shen et al., "Global Self-Attention
Networks"). Exact per the public reference code, except the positional extent L (below).

Shared `q, k, v = Conv1×1(x, C→3C)` (d_k = d_v = C/h per head).
- content: `k' = softmax(k over pixels)`, `context = k' vᵀ` (d×d per head), `F_c = contextᵀ q`. Linear in N.
- positional (axial, relative, no softmax): along each column
  `Y[:, a, b] = Σ_{|δ|≤L-1} (q[:, a, b] · r^col_δ) · v[:, a+δ, b]` (zero outside the image), BatchNorm,
  then the same along each row with `r^row` over the column output.
- `out = Conv1×1(F_c + F_p)`.
The paper's extent is global (L = max(H, W), cost ~N^1.5); restoration defaults to a local extent L = 8.
Pass `extent` >= the largest image side you will run for the global form. The positional branch is
shift-and-accumulate (2L−1 static shifts): it exports to plain Slice/Pad/Mul/Add with H, W dynamic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention._common import merge_heads, split_heads
from effrestore.models.attention._registry import register_attention


@register_attention("gsa")
class GSA(nn.Module):
    def __init__(self, dim: int, heads: int = 1, *, bias: bool = False, extent: int = 8) -> None:
        super().__init__()
        if extent < 1:
            raise ValueError(f"extent must be >= 1, got {extent}")
        head_dim = dim // heads
        self.heads = heads
        self.extent = extent
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.rel_col = nn.Parameter(torch.randn(2 * extent - 1, head_dim) * head_dim**-0.5)
        self.rel_row = nn.Parameter(torch.randn(2 * extent - 1, head_dim) * head_dim**-0.5)
        self.norm = nn.BatchNorm2d(dim)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, height, width = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=1)
        context = split_heads(k, self.heads).softmax(dim=-1) @ split_heads(v, self.heads).transpose(-2, -1)
        content = merge_heads(context.transpose(-2, -1) @ split_heads(q, self.heads), height, width)
        columns = self.norm(self._axial(q, v, self.rel_col, axis=3))
        positional = self._axial(q, columns, self.rel_row, axis=4)
        return self.project_out(content + positional)

    def _axial(self, q: torch.Tensor, v: torch.Tensor, rel: torch.Tensor, axis: int) -> torch.Tensor:
        """Relative attention along `axis` (3: columns/H, 4: rows/W) of the B×h×d×H×W view."""
        b, c, height, width = q.shape
        shape = (b, self.heads, c // self.heads, height, width)
        logits = torch.einsum("bhdxy,sd->bhsxy", q.reshape(shape), rel)  # B×h×(2L-1)×H×W
        reach = self.extent - 1
        padded = F.pad(v.reshape(shape), (0, 0, reach, reach) if axis == 3 else (reach, reach))
        length = shape[axis]
        out = torch.zeros(shape, dtype=v.dtype, device=v.device)
        for i in range(2 * self.extent - 1):  # δ = i - reach: out[a] += logit_δ[a] · v[a + δ]
            shifted = padded[:, :, :, i : i + length] if axis == 3 else padded[..., i : i + length]
            out = out + logits[:, :, i : i + 1] * shifted
        return out.reshape(b, c, height, width)
