"""The opponent colour transform that lets a single-channel network restore RGB images (the CBM3D idea).

An orthonormal map of RGB to (luminance, red−blue, red+blue−2·green) decorrelates the colour channels of
natural images while keeping i.i.d. Gaussian noise i.i.d. with the same σ; each plane is then shifted and
scaled into [0, 1], the range the network was trained on (which also lowers the noise it sees: to σ/√3 on
luminance, σ/√2 and σ·√6/4 on the chroma planes). A grayscale denoiser thus denoises colour photos without
colour training data; `Restormer` applies it when its config has `opponent_color=True`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_BASIS = (
    (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)),
    (1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)),
    (1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)),
)
# Each plane's range for RGB in [0, 1]: luminance [0, √3], the chroma planes symmetric around 0.
_LOW = (0.0, -1 / math.sqrt(2), -2 / math.sqrt(6))
_SPAN = (math.sqrt(3), math.sqrt(2), 4 / math.sqrt(6))


def _constants(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    basis = torch.tensor(_BASIS, dtype=like.dtype, device=like.device)
    low = torch.tensor(_LOW, dtype=like.dtype, device=like.device)
    span = torch.tensor(_SPAN, dtype=like.dtype, device=like.device)
    return basis, low, span


def to_opponent(rgb: torch.Tensor) -> torch.Tensor:
    """B×3×H×W RGB in [0, 1] -> B×3×H×W opponent planes, each in [0, 1]."""
    basis, low, span = _constants(rgb)
    weight = (basis / span[:, None])[:, :, None, None]
    return F.conv2d(rgb, weight, -low / span)


def from_opponent(planes: torch.Tensor) -> torch.Tensor:
    """The inverse of `to_opponent`."""
    basis, low, span = _constants(planes)
    weight = (basis.T * span[None, :])[:, :, None, None]
    return F.conv2d(planes, weight, basis.T @ low)
