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
from effrestore.models.attention._registry import register_attention


@register_attention("stt")
class STT(nn.Module):
    def __init__(
        self, dim: int, heads: int = 1, *, bias: bool = False, window: int = 8, factor_rank: int = 8
    ) -> None:
        super().__init__()
        if window < 1 or factor_rank < 1:
            raise ValueError(f"window and factor_rank must be >= 1, got {window} and {factor_rank}")
        self.heads = heads
        self.head_dim = dim // heads
        self.window = window
        self.factor_rank = factor_rank
        self.v = nn.Conv2d(dim, dim, 1, bias=bias)
        hidden = max(1, dim // 4)
        self.synthesizer = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 2 * heads * self.head_dim * factor_rank)
        )
        self.r_h = nn.Parameter(torch.randn(heads, window, window) * 0.02)
        self.r_w = nn.Parameter(torch.randn(heads, window, window) * 0.02)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, _height, _width = x.shape
        v = self.v(x)
        return self.project_out(self._channel_mode(x, v) + self._spatial_modes(v))

    def _channel_mode(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, _, height, width = v.shape
        factors = self.synthesizer(x.mean(dim=(2, 3)))
        factors = factors.reshape(b, self.heads, 2, self.head_dim, self.factor_rank)
        mix = (factors[:, :, 0] @ factors[:, :, 1].transpose(-2, -1)).softmax(dim=-1)  # B×h×d×d
        return merge_heads(mix @ split_heads(v, self.heads), height, width)

    def _spatial_modes(self, v: torch.Tensor) -> torch.Tensor:
        b, c, height, width = v.shape
        w = self.window
        padded = F.pad(v, (0, (-width) % w, 0, (-height) % w), mode="replicate")
        ph, pw = padded.shape[-2:]
        windows = padded.reshape(b, self.heads, self.head_dim, ph // w, w, pw // w, w)
        windows = windows.permute(0, 1, 2, 3, 5, 4, 6)  # B×h×d×nH×nW×w×w
        r_h = self.r_h.softmax(dim=-1).reshape(1, self.heads, 1, 1, 1, w, w)
        r_w = self.r_w.softmax(dim=-1).reshape(1, self.heads, 1, 1, 1, w, w)
        mixed = r_h @ windows @ r_w.transpose(-2, -1)
        mixed = mixed.permute(0, 1, 2, 3, 5, 4, 6).reshape(b, c, ph, pw)
        return mixed[:, :, :height, :width]
