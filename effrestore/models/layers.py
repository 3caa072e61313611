"""Restormer building blocks (Zamir et al., CVPR 2022, official code): LayerNorm, GDFN, transformer block,
down/up-sampling. Parameter names follow the official code so released checkpoints load strictly."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from effrestore.models.attention import NoAttention, build_attention

LayerNormType = Literal["WithBias", "BiasFree"]


class _ChannelLayerNormBody(nn.Module):
    """LayerNorm over the last (channel) axis. BiasFree divides x, not x − μ, by the standard deviation."""

    def __init__(self, dim: int, with_bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        sigma = ((x - mu) ** 2).mean(-1, keepdim=True)
        if self.bias is None:
            return x / torch.sqrt(sigma + 1e-5) * self.weight
        return (x - mu) / torch.sqrt(sigma + 1e-5) * self.weight + self.bias


class LayerNorm(nn.Module):
    """Channel LayerNorm for B×C×H×W tensors (normalises each pixel's C values)."""

    def __init__(self, dim: int, kind: LayerNormType) -> None:
        super().__init__()
        self.body = _ChannelLayerNormBody(dim, with_bias=kind == "WithBias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network: 1×1 C→2·hid, DW3×3, GELU(x1)·x2, 1×1 hid→C."""

    def __init__(self, dim: int, expansion: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class TransformerBlock(nn.Module):
    """`x + attn(LN(x))`, then `x + GDFN(LN(x))`; attention kind "none" keeps only the GDFN half."""

    def __init__(
        self, dim: int, heads: int, attention: str, expansion: float, bias: bool, layernorm: LayerNormType
    ) -> None:
        super().__init__()
        attn = build_attention(attention, dim, heads)
        self.has_attention = not isinstance(attn, NoAttention)
        if self.has_attention:
            self.norm1 = LayerNorm(dim, layernorm)
            self.attn = attn
        self.norm2 = LayerNorm(dim, layernorm)
        self.ffn = GDFN(dim, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.has_attention:
            x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Downsample(nn.Module):
    """Conv3×3 C→C/2 + PixelUnshuffle(2): half resolution, twice the channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Conv3×3 C→2C + PixelShuffle(2): double resolution, half the channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class OverlapPatchEmbed(nn.Module):
    """Conv3×3 in_channels→dim."""

    def __init__(self, in_channels: int, dim: int, bias: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)
