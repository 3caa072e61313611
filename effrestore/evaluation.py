"""The standard Gaussian-denoising evaluation protocol, and classical baselines on the same inputs.

Protocol: the clean image in [0, 255] float; noise N(0, σ²) from a fixed per-image, per-σ seed; the noisy
input is neither clipped nor quantised; the output is clipped to [0, 255]; PSNR and SSIM on the full image.
Torch-free: a denoiser is any callable float32 H×W×C in [0, 1] scale -> same shape.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from effrestore._lazy import require
from effrestore.errors import ConfigError
from effrestore.image_folders import read_image_folder

Denoiser = Callable[[np.ndarray], np.ndarray]
BASELINES = ("nlm", "bm3d")


def noise_seed(name: str, sigma: float) -> int:
    """A fixed seed per (image name, sigma), stable across runs and machines."""
    return zlib.crc32(f"{name}:{sigma:g}".encode())


def noisy_version(clean: np.ndarray, name: str, sigma: float) -> np.ndarray:
    """clean ([0, 255] float64) + N(0, σ²) from the fixed seed; not clipped, not quantised."""
    if not 0 <= sigma <= 255:
        raise ConfigError(f"sigma must be in [0, 255] (the [0, 255] scale), got {sigma}")
    rng = np.random.default_rng(noise_seed(name, sigma))
    return clean + rng.normal(0.0, sigma, clean.shape)


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB for [0, 255] images."""
    mse = float(np.mean((reference.astype(np.float64) - estimate.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(reference: np.ndarray, estimate: np.ndarray) -> float:
    metrics = require("skimage.metrics", "SSIM (effrestore eval)")
    return float(
        metrics.structural_similarity(
            reference,
            estimate,
            data_range=255.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def load_eval_images(folder: str | Path, channels: int) -> list[tuple[str, np.ndarray]]:
    """(name, H×W×C float64 in [0, 255]) for every image in `folder`, converted to `channels`."""
    return [(name, array.astype(np.float64)) for name, array in read_image_folder(folder, channels)]


def baseline_denoiser(name: str, sigma: float) -> Denoiser:
    """The classical denoiser `name` ("nlm": scikit-image non-local means; "bm3d": the bm3d package),
    given the true sigma (the learned models are blind; the baselines are not)."""
    s = sigma / 255.0
    if name == "nlm":
        restoration = require("skimage.restoration", "the nlm baseline")

        def nlm(x: np.ndarray) -> np.ndarray:
            return restoration.denoise_nl_means(
                x, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=2
            ).astype(np.float32)

        return nlm
    if name == "bm3d":
        try:
            import bm3d  # type: ignore[import-not-found]
        except ImportError:
            raise ConfigError("the bm3d baseline needs the bm3d package: pip install 'effrestore[baselines]'") from None

        def run_bm3d(x: np.ndarray) -> np.ndarray:
            if x.shape[2] == 3:
                return np.asarray(bm3d.bm3d_rgb(x, s), dtype=np.float32)
            return np.asarray(bm3d.bm3d(x[..., 0], s), dtype=np.float32)[..., None]

        return run_bm3d
    raise ConfigError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")


@dataclass
class EvalResult:
    """PSNR/SSIM per image and their means, for one method at one sigma."""

    method: str
    sigma: float
    per_image: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def psnr(self) -> float:
        return float(np.mean([p for p, _ in self.per_image.values()]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s for _, s in self.per_image.values()]))


def evaluate(
    methods: dict[str, Callable[[float], Denoiser]],
    images: Sequence[tuple[str, np.ndarray]],
    sigmas: Sequence[float],
    *,
    with_ssim: bool = True,
    on_image: Callable[[str, str, float], None] | None = None,
) -> list[EvalResult]:
    """Runs every method (a factory sigma -> denoiser) on the same noisy inputs for every sigma."""
    results = []
    for sigma in sigmas:
        noisy_inputs = [(name, clean, noisy_version(clean, name, sigma)) for name, clean in images]
        for method, factory in methods.items():
            denoise = factory(sigma)
            result = EvalResult(method, sigma)
            for name, clean, noisy in noisy_inputs:
                out = denoise((noisy / 255.0).astype(np.float32))
                out = np.clip(np.asarray(out, dtype=np.float64) * 255.0, 0, 255).reshape(clean.shape)
                result.per_image[name] = (psnr(clean, out), ssim(clean, out) if with_ssim else float("nan"))
                if on_image is not None:
                    on_image(method, name, sigma)
            results.append(result)
    return results
