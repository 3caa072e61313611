"""Small tensor helpers shared by the attention families."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """B×(h·d)×H×W -> B×h×d×N."""
    b, c, h, w = x.shape
    return x.reshape(b, heads, c // heads, h * w)


def merge_heads(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """B×h×d×N -> B×(h·d)×H×W."""
    b, heads, d, _ = x.shape
    return x.reshape(b, heads * d, height, width)


def l2_normalize_pixels(x: torch.Tensor) -> torch.Tensor:
    """L2-normalises each channel over the pixel axis (last), as Restormer's `F.normalize(dim=-1)`."""
    return F.normalize(x, dim=-1)


def reduced_channels(dim: int, heads: int, divisor: int) -> int:
    """Per-head channel count for projections that shrink C by `divisor` (at least 1)."""
    return max(1, dim // divisor // heads)
