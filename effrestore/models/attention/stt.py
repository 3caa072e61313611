"""STT — synthesizing tensor transformations. Our reading of the paper (its method text was not available):
Synthesizer attention (Tay et al.) applied to the unflattened image tensor one mode at a time. Attention
weights are synthesized from the input or learned directly, never from query–key dot products.

- channel mode: a factorised dense synthesizer. From `GAP(x)` an MLP emits per-head factors
  `U, W ∈ R^{d×k}` (k = 8); `A_c = softmax(U Wᵀ)` (d×d) mixes the channels of `v = Conv1×1(x)`.
- spatial modes: learned random-synthesizer matrices `R_H, R_W ∈ R^{w×w}` per head (window w = 8); within
  each w×w window `Y = softmax(R_H) · v_win · softmax(R_W)ᵀ` (mode-2 and mode-3 products).
- `out = Conv1×1(Y_c + Y_s)`. The spatial branch pads (edge replicate) to a multiple of w and crops back.
Linear in N; no q·kᵀ product; only Reshape/Transpose/MatMul/Softmax (plus Pad/Slice) in ONNX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention._common import merge_heads, split_heads
from effrestore.models.attention._exportable import ExportableAttention, register_custom_op
from effrestore.models.attention._registry import register_attention


def _channel_mode(x, v, w_in, b_in, w_out, b_out, heads: int, factor_rank: int):  # type: ignore[no-untyped-def]
    b, c, height, width = v.shape
    factors = F.linear(F.gelu(F.linear(x.mean(dim=(2, 3)), w_in, b_in)), w_out, b_out)
    factors = factors.reshape(b, heads, 2, c // heads, factor_rank)
    mix = (factors[:, :, 0] @ factors[:, :, 1].transpose(-2, -1)).softmax(dim=-1)  # B×h×d×d
    return merge_heads(mix @ split_heads(v, heads), height, width)


def _spatial_modes(v: torch.Tensor, r_h: torch.Tensor, r_w: torch.Tensor, heads: int) -> torch.Tensor:
    b, c, height, width = v.shape
    w = r_h.shape[-1]
    padded = F.pad(v, (0, (-width) % w, 0, (-height) % w), mode="replicate")
    ph, pw = padded.shape[-2:]
    windows = padded.reshape(b, heads, c // heads, ph // w, w, pw // w, w)
    windows = windows.permute(0, 1, 2, 3, 5, 4, 6)  # B×h×d×nH×nW×w×w
    mode_h = r_h.softmax(dim=-1).reshape(1, heads, 1, 1, 1, w, w)
    mode_w = r_w.softmax(dim=-1).reshape(1, heads, 1, 1, 1, w, w)
    mixed = mode_h @ windows @ mode_w.transpose(-2, -1)
    mixed = mixed.permute(0, 1, 2, 3, 5, 4, 6).reshape(b, c, ph, pw)
    return mixed[:, :, :height, :width]


@register_attention("stt")
@register_custom_op
class STT(ExportableAttention):
    op_name = "STT"
    weight_names = (
        "v",
        "synth_in",
        "synth_in_bias",
        "synth_out",
        "synth_out_bias",
        "r_h",
        "r_w",
        "project_out",
    )
    attribute_names = ("heads", "window", "factor_rank")

    def __init__(self, dim: int, heads: int = 1, *, window: int = 8, factor_rank: int = 8) -> None:
        super().__init__()
        if window < 1 or factor_rank < 1:
            raise ValueError(f"window and factor_rank must be >= 1, got {window} and {factor_rank}")
        self.heads = heads
        self.window = window
        self.factor_rank = factor_rank
        self.v = nn.Conv2d(dim, dim, 1, bias=False)
        hidden = max(1, dim // 4)
        self.synthesizer = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 2 * dim * factor_rank))
        self.r_h = nn.Parameter(torch.randn(heads, window, window) * 0.02)
        self.r_w = nn.Parameter(torch.randn(heads, window, window) * 0.02)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def weights(self) -> tuple[torch.Tensor, ...]:
        return (
            self.v.weight,
            self.synthesizer[0].weight,
            self.synthesizer[0].bias,
            self.synthesizer[2].weight,
            self.synthesizer[2].bias,
            self.r_h,
            self.r_w,
            self.project_out.weight,
        )

    @staticmethod
    def functional(  # type: ignore[override]
        x: torch.Tensor,
        v: torch.Tensor,
        synth_in: torch.Tensor,
        synth_in_bias: torch.Tensor,
        synth_out: torch.Tensor,
        synth_out_bias: torch.Tensor,
        r_h: torch.Tensor,
        r_w: torch.Tensor,
        project_out: torch.Tensor,
        *,
        heads: int,
        window: int,
        factor_rank: int,
    ) -> torch.Tensor:
        values = F.conv2d(x, v)
        channel = _channel_mode(x, values, synth_in, synth_in_bias, synth_out, synth_out_bias, heads, factor_rank)
        return F.conv2d(channel + _spatial_modes(values, r_h, r_w, heads), project_out)
