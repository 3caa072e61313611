"""The standard evaluation protocols, and classical baselines on the same inputs.

Denoising (`Noise`): the clean image in [0, 255] float; noise N(0, σ²) from a fixed per-image, per-σ seed;
the noisy input is neither clipped nor quantised; the output is clipped to [0, 255]; PSNR and SSIM on the
full image. Super-resolution (`Downscale`): the clean image cropped to a multiple of the scale, downscaled
with antialiased bicubic (Pillow's, the kernel of MATLAB's `imresize`) and saved as 8-bit; the output is
clipped and rounded to 8 bits; PSNR and SSIM on the luma (BT.601 Y) with `scale` border pixels shaved, as
super-resolution papers report them.
Torch-free: a method is any callable float32 H×W×C in [0, 1] scale -> float32 in [0, 1] scale.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from effrestore._lazy import require
from effrestore.errors import ConfigError
from effrestore.image_folders import read_image_folder

Method = Callable[[np.ndarray], np.ndarray]
BASELINES = {"noise": ("nlm", "bm3d"), "downscale": ("bicubic", "lanczos")}
_LUMA = np.array([65.481, 128.553, 24.966]) / 255.0  # BT.601 Y from [0, 255] RGB, plus 16


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


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 Y (H×W×1, [16, 235] for [0, 255] RGB); a one-channel image is its own luma."""
    return image if image.shape[2] == 1 else (image @ _LUMA + 16.0)[..., None]


def resize(image: np.ndarray, height: int, width: int, method: int = Image.BICUBIC) -> np.ndarray:
    """Resizes an H×W×C [0, 255] float image channel by channel in float (Pillow mode F, no 8-bit steps);
    Pillow widens the kernel when shrinking, so downscaling is antialiased."""
    planes = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32)).resize((width, height), method))
        for c in range(image.shape[2])
    ]
    return np.stack(planes, axis=2).astype(np.float64)


@dataclass(frozen=True)
class Noise:
    """Gaussian denoising at one sigma ([0, 255] scale)."""

    sigma: float
    kind = "noise"

    @property
    def label(self) -> str:
        return f"{self.sigma:g}"

    def reference(self, clean: np.ndarray) -> np.ndarray:
        return clean

    def degrade(self, clean: np.ndarray, name: str) -> np.ndarray:
        return noisy_version(clean, name, self.sigma)

    def finish(self, output: np.ndarray) -> np.ndarray:
        return np.clip(output, 0, 255)

    def scored(self, image: np.ndarray) -> np.ndarray:
        return image


@dataclass(frozen=True)
class Downscale:
    """Super-resolution of an antialiased bicubic downscale by `scale`."""

    scale: int
    kind = "downscale"

    @property
    def label(self) -> str:
        return f"x{self.scale}"

    def reference(self, clean: np.ndarray) -> np.ndarray:
        height, width = (clean.shape[0] // self.scale) * self.scale, (clean.shape[1] // self.scale) * self.scale
        if height == 0 or width == 0:
            raise ConfigError(
                f"an evaluation image of {clean.shape[1]}×{clean.shape[0]} is too small for ×{self.scale}"
            )
        return clean[:height, :width]

    def degrade(self, clean: np.ndarray, name: str) -> np.ndarray:
        small = resize(clean, clean.shape[0] // self.scale, clean.shape[1] // self.scale)
        return np.clip(np.round(small), 0, 255)  # saved as 8-bit, like the benchmark sets' LR files

    def finish(self, output: np.ndarray) -> np.ndarray:
        return np.round(np.clip(output, 0, 255))

    def scored(self, image: np.ndarray) -> np.ndarray:
        shave = self.scale
        return luma(image)[shave:-shave, shave:-shave]


Condition = Noise | Downscale
STANDARD_SIGMAS = (15.0, 25.0, 50.0)


def standard_conditions(scale: int, sigmas: Sequence[float] = STANDARD_SIGMAS) -> list[Condition]:
    """The protocol a model is scored under: noise at `sigmas` for a denoiser, its own factor otherwise."""
    return [Noise(s) for s in sigmas] if scale == 1 else [Downscale(scale)]


def load_eval_images(folder: str | Path, channels: int) -> list[tuple[str, np.ndarray]]:
    """(name, H×W×C float64 in [0, 255]) for every image in `folder`, converted to `channels`."""
    return [(name, array.astype(np.float64)) for name, array in read_image_folder(folder, channels)]


def baseline_method(name: str, condition: Condition) -> Method:
    """The classical method `name` for `condition`: "nlm" (scikit-image non-local means) or "bm3d" (the bm3d
    package) for noise, given the true sigma (the learned models are blind; these are not); "bicubic" or
    "lanczos" interpolation for downscaling."""
    if name not in BASELINES[condition.kind]:
        raise ConfigError(
            f"unknown baseline {name!r} for {condition.kind}; choose from {', '.join(BASELINES[condition.kind])}"
        )
    if isinstance(condition, Downscale):
        method = Image.BICUBIC if name == "bicubic" else Image.LANCZOS

        def upscale(x: np.ndarray) -> np.ndarray:
            big = resize(x * 255.0, x.shape[0] * condition.scale, x.shape[1] * condition.scale, method)
            return (big / 255.0).astype(np.float32)

        return upscale
    s = condition.sigma / 255.0
    if name == "nlm":
        restoration = require("skimage.restoration", "the nlm baseline")

        def nlm(x: np.ndarray) -> np.ndarray:
            return restoration.denoise_nl_means(
                x, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=2
            ).astype(np.float32)

        return nlm
    try:
        import bm3d  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError("the bm3d baseline needs the bm3d package: pip install 'effrestore[baselines]'") from None

    def run_bm3d(x: np.ndarray) -> np.ndarray:
        if x.shape[2] == 3:
            return np.asarray(bm3d.bm3d_rgb(x, s), dtype=np.float32)
        return np.asarray(bm3d.bm3d(x[..., 0], s), dtype=np.float32)[..., None]

    return run_bm3d


@dataclass
class EvalResult:
    """PSNR/SSIM per image and their means, for one method under one condition."""

    method: str
    condition: Condition
    per_image: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def psnr(self) -> float:
        return float(np.mean([p for p, _ in self.per_image.values()]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s for _, s in self.per_image.values()]))


def evaluate(
    methods: dict[str, Callable[[Condition], Method]],
    images: Sequence[tuple[str, np.ndarray]],
    conditions: Sequence[Condition],
    *,
    with_ssim: bool = True,
    on_image: Callable[[str, str, Condition], None] | None = None,
) -> list[EvalResult]:
    """Runs every method (a factory condition -> method) on the same degraded inputs for every condition."""
    results = []
    for condition in conditions:
        cases = []
        for name, clean in images:
            reference = condition.reference(clean)
            cases.append((name, reference, condition.degrade(reference, name)))
        for method_name, factory in methods.items():
            method = factory(condition)
            result = EvalResult(method_name, condition)
            for name, reference, degraded in cases:
                out = np.asarray(method((degraded / 255.0).astype(np.float32)), dtype=np.float64) * 255.0
                out = condition.finish(out.reshape(reference.shape))
                truth, estimate = condition.scored(reference), condition.scored(out)
                result.per_image[name] = (psnr(truth, estimate), ssim(truth, estimate) if with_ssim else float("nan"))
                if on_image is not None:
                    on_image(method_name, name, condition)
            results.append(result)
    return results
