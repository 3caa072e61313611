"""Small tensor helpers shared by the attention families."""

from __future__ import annotations

import torch


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """B×(h·d)×H×W -> B×h×d×N."""
    b, c, h, w = x.shape
    return x.reshape(b, heads, c // heads, h * w)


def merge_heads(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """B×h×d×N -> B×(h·d)×H×W."""
    b, heads, d, _ = x.shape
    return x.reshape(b, heads * d, height, width)


def transposed_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: torch.Tensor, heads: int
) -> torch.Tensor:
    """Restormer's channel attention, per head: `softmax(τ_h · q̂ k̂ᵀ) v`, with q̂, k̂ each channel L2-normalised
    over the pixels (`F.normalize(dim=-1)`). q: B×(h·d)×H×W, k and v: B×(h·r)×H×W, τ: h×1×1.

    Written on pixel rows (B×N×C, the channels-last view CPU runtimes keep their convolutions' outputs in), so
    the exported graph needs no planar copy of q, k, v or the output: `B×C×H×W → B×h×d×N` head reshapes cost
    OpenVINO a Reorder of every tensor (13.8 % of the shipped denoise-color's time at 512²). The norms divide
    the small C×(h·r) product instead of the full tensors, and all heads share one product whose off-head
    blocks are masked out before the softmax (they come out exactly 0): h× the product's MACs, small next to
    the projections at the low-resolution levels where heads > 1."""
    batch, channels, height, width = q.shape
    per_head_q, per_head_k = channels // heads, k.shape[1] // heads

    def rows(t: torch.Tensor) -> torch.Tensor:
        return t.permute(0, 2, 3, 1).reshape(batch, height * width, t.shape[1])

    q_norm = torch.linalg.vector_norm(q, dim=(2, 3)).clamp_min(1e-12)  # F.normalize's eps
    k_norm = torch.linalg.vector_norm(k, dim=(2, 3)).clamp_min(1e-12)
    cosine = (rows(q).transpose(1, 2) @ rows(k)) / (q_norm[:, :, None] * k_norm[:, None, :])  # B×C×(h·r)
    logits = cosine * temperature.reshape(heads, 1).repeat_interleave(per_head_q, dim=0)
    if heads > 1:
        ones = torch.ones(per_head_q, per_head_k, device=q.device)
        same_head = torch.kron(torch.eye(heads, device=q.device), ones)
        logits = logits.masked_fill(same_head == 0, float("-inf"))
    out = rows(v) @ logits.softmax(dim=-1).transpose(1, 2)  # B×N×C
    return out.reshape(batch, height, width, channels).permute(0, 3, 1, 2)


def reduced_channels(dim: int, heads: int, divisor: int) -> int:
    """Per-head channel count for projections that shrink C by `divisor` (at least 1)."""
    return max(1, dim // divisor // heads)
