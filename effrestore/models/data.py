"""Training data: image folders held in memory, synthetic dead-leaves images, random crops with
flips/rotations, and the degradations (blind Gaussian noise, camera noise, bicubic ×2 downscaling).

Every batch is a pure function of (seed, step), so a resumed run sees exactly the batches it would have
seen without the interruption, and no RNG state needs saving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from effrestore.errors import ConfigError
from effrestore.image_folders import read_image_folder
from effrestore.models.degradations import CameraNoise, camera_pair


def load_folder(folder: str | Path, channels: int) -> list[np.ndarray]:
    """All images under `folder` (recursively) as float32 H×W×channels arrays in [0, 1]."""
    return [array.astype(np.float32) / 255.0 for _, array in read_image_folder(folder, channels, recursive=True)]


def dead_leaves(size: int, channels: int, rng: np.random.Generator, discs: int = 300) -> np.ndarray:
    """A dead-leaves image: occluding discs with power-law radii, a standard synthetic natural-image model."""
    canvas = np.empty((size, size, channels), dtype=np.float32)
    canvas[:] = rng.random(channels)
    radii = np.clip((rng.pareto(2.0, discs) + 1) * size / 64, 1, size / 2)
    for radius in np.sort(radii)[::-1]:  # large discs first, so small ones occlude them
        cy, cx = rng.uniform(-radius, size + radius, 2)
        colour = rng.random(channels)
        # Only the disc's bounding box can change: most discs are small, so this is far cheaper than a full mask.
        top, left = max(0, int(cy - radius)), max(0, int(cx - radius))
        yy, xx = np.ogrid[top : min(size, int(cy + radius) + 1), left : min(size, int(cx + radius) + 1)]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        canvas[top : top + mask.shape[0], left : left + mask.shape[1]][mask] = colour
    return canvas


@dataclass(frozen=True)
class CropSampler:
    """Draws batches of clean crops from in-memory images (plus a share of dead-leaves images)."""

    images: tuple[np.ndarray, ...]
    crop: int
    channels: int
    synthetic_fraction: float = 0.0

    def __post_init__(self) -> None:
        small = [img.shape[:2] for img in self.images if min(img.shape[:2]) < self.crop]
        if small:
            raise ConfigError(f"crop {self.crop} is larger than {len(small)} training image(s), e.g. {small[0]}")
        if not self.images and self.synthetic_fraction < 1.0:
            raise ConfigError("no training images given and synthetic_fraction < 1")

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        """B×C×crop×crop float32 in [0, 1]."""
        crops = []
        for _ in range(size):
            if not self.images or rng.random() < self.synthetic_fraction:
                patch = dead_leaves(self.crop, self.channels, rng)
            else:
                image = self.images[rng.integers(len(self.images))]
                top = rng.integers(image.shape[0] - self.crop + 1)
                left = rng.integers(image.shape[1] - self.crop + 1)
                patch = image[top : top + self.crop, left : left + self.crop]
            patch = np.rot90(patch, k=int(rng.integers(4)))
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            crops.append(np.ascontiguousarray(patch.transpose(2, 0, 1)))
        return torch.from_numpy(np.stack(crops))


def add_blind_noise(clean: torch.Tensor, max_sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Adds N(0, σ²) with σ ~ U[0, max_sigma] per sample (σ on the [0, 255] scale); no clipping."""
    sigma = torch.rand(clean.shape[0], 1, 1, 1, generator=generator) * (max_sigma / 255.0)
    return clean + sigma * torch.randn(clean.shape, generator=generator)


def add_camera_noise(
    clean: torch.Tensor,
    gaussian_fraction: float,
    max_sigma: float,
    rng: np.random.Generator,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, target) for a B×3×H×W batch: each sample gets a drawn camera's noise (degradations.py), or,
    with probability `gaussian_fraction`, blind Gaussian noise as `add_blind_noise` gives it."""
    noise_model = CameraNoise()
    noisy, targets = [], []
    for sample in clean:
        if rng.random() < gaussian_fraction:
            noisy.append(add_blind_noise(sample[None], max_sigma, generator)[0])
            targets.append(sample)
            continue
        pair = camera_pair(sample.permute(1, 2, 0).numpy(), noise_model.draw(rng), rng)
        noisy_sample, target = (torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))) for a in pair)
        noisy.append(noisy_sample)
        targets.append(target)
    return torch.stack(noisy), torch.stack(targets)


def bicubic_downscale(clean: torch.Tensor, factor: int) -> torch.Tensor:
    """The low-resolution input for super-resolution training (antialiased bicubic)."""
    return F.interpolate(clean, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
