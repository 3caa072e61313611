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
The BatchNorm is a module in training; in eval (and in the exported op) it is the folded affine map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention._common import merge_heads, split_heads
from effrestore.models.attention._exportable import ExportableAttention, register_custom_op
from effrestore.models.attention._registry import register_attention


def _axial(q: torch.Tensor, v: torch.Tensor, rel: torch.Tensor, heads: int, extent: int, axis: int) -> torch.Tensor:
    """Relative attention along `axis` (3: columns/H, 4: rows/W) of the B×h×d×H×W view."""
    b, c, height, width = q.shape
    shape = (b, heads, c // heads, height, width)
    logits = torch.einsum("bhdxy,sd->bhsxy", q.reshape(shape), rel)  # B×h×(2L-1)×H×W
    reach = extent - 1
    padded = F.pad(v.reshape(shape), (0, 0, reach, reach) if axis == 3 else (reach, reach))
    out = None
    for i in range(2 * extent - 1):  # δ = i - reach: out[a] += logit_δ[a] · v[a + δ]
        end = (i - 2 * reach) or None  # static slice bounds keep the exported graph free of shape maths
        shifted = padded[:, :, :, i:end] if axis == 3 else padded[..., i:end]
        term = logits[:, :, i : i + 1] * shifted
        out = term if out is None else out + term
    return out.reshape(b, c, height, width)  # type: ignore[union-attr]


def _gsa(x, qkv, rel_col, rel_row, project_out, normalize, heads: int, extent: int):  # type: ignore[no-untyped-def]
    _, _, height, width = x.shape
    q, k, v = F.conv2d(x, qkv).chunk(3, dim=1)
    context = split_heads(k, heads).softmax(dim=-1) @ split_heads(v, heads).transpose(-2, -1)
    content = merge_heads(context.transpose(-2, -1) @ split_heads(q, heads), height, width)
    columns = normalize(_axial(q, v, rel_col, heads, extent, axis=3))
    positional = _axial(q, columns, rel_row, heads, extent, axis=4)
    return F.conv2d(content + positional, project_out)


@register_attention("gsa")
@register_custom_op
class GSA(ExportableAttention):
    op_name = "GSA"
    weight_names = ("qkv", "rel_col", "rel_row", "bn_scale", "bn_shift", "project_out")
    attribute_names = ("heads", "extent")

    def __init__(self, dim: int, heads: int = 1, *, extent: int = 8) -> None:
        super().__init__()
        if extent < 1:
            raise ValueError(f"extent must be >= 1, got {extent}")
        head_dim = dim // heads
        self.heads = heads
        self.extent = extent
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=False)
        self.rel_col = nn.Parameter(torch.randn(2 * extent - 1, head_dim) * head_dim**-0.5)
        self.rel_row = nn.Parameter(torch.randn(2 * extent - 1, head_dim) * head_dim**-0.5)
        self.norm = nn.BatchNorm2d(dim)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def weights(self) -> tuple[torch.Tensor, ...]:
        """The eval-mode weights, with the BatchNorm folded into a per-channel scale and shift."""
        scale = self.norm.weight / torch.sqrt(self.norm.running_var + self.norm.eps)
        shift = self.norm.bias - self.norm.running_mean * scale
        return (self.qkv.weight, self.rel_col, self.rel_row, scale, shift, self.project_out.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:  # batch statistics: the BatchNorm module, not its folded form
            return _gsa(
                x,
                self.qkv.weight,
                self.rel_col,
                self.rel_row,
                self.project_out.weight,
                self.norm,
                self.heads,
                self.extent,
            )
        return super().forward(x)

    @staticmethod
    def functional(  # type: ignore[override]
        x: torch.Tensor,
        qkv: torch.Tensor,
        rel_col: torch.Tensor,
        rel_row: torch.Tensor,
        bn_scale: torch.Tensor,
        bn_shift: torch.Tensor,
        project_out: torch.Tensor,
        *,
        heads: int,
        extent: int,
    ) -> torch.Tensor:
        def affine(t: torch.Tensor) -> torch.Tensor:
            return t * bn_scale[:, None, None] + bn_shift[:, None, None]

        return _gsa(x, qkv, rel_col, rel_row, project_out, affine, heads, extent)
