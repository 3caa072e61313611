"""No attention: a host block with this kind keeps only its feed-forward part.

Gives the pure-convolution baseline whose receptive field is finite, so tiled and whole-image results agree.
"""

from __future__ import annotations

import torch
from torch import nn

from effrestore.models.attention._registry import register_attention


@register_attention("none")
class NoAttention(nn.Module):
    def __init__(self, dim: int, heads: int = 1) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)
