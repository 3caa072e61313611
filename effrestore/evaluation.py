"""The standard evaluation protocols, and classical baselines on the same inputs.

Denoising (`Noise`): the clean image in [0, 255] float; noise N(0, σ²) from a fixed per-image, per-σ seed;
the noisy input is neither clipped nor quantised; the output is clipped to [0, 255]; PSNR and SSIM on the
full image. Super-resolution (`Downscale`): the clean image cropped to a multiple of the scale, downscaled
with antialiased bicubic (Pillow's, the kernel of MATLAB's `imresize`) and saved as 8-bit; the output is
clipped and rounded to 8 bits; PSNR and SSIM on the luma (BT.601 Y) with `scale` border pixels shaved, as
super-resolution papers report them. Real noise (`RealNoise`): folders of noisy/clean photo pairs, the
noisy photo as it is, the output rounded to 8 bits, full-image PSNR and SSIM.
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
from effrestore.errors import ConfigError, ImageError
from effrestore.image_folders import IMAGE_SUFFIXES, as_8bit, read_image_folder
from effrestore.quality import psnr
from effrestore.runtime.io import read_image

Method = Callable[[np.ndarray], np.ndarray]
BASELINES = {
    "noise": ("nlm", "bm3d"),
    "downscale": ("bicubic", "lanczos"),
    "real": ("input", "opencv-nlm-3", "opencv-nlm-5", "bm3d"),
}
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


SSIM_WINDOW = 11  # pixels a side: a Gaussian of σ 1.5 truncated at 3.5σ, as in Wang et al. and scikit-image


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


@dataclass(frozen=True)
class RealNoise:
    """Real noisy/clean pairs (real_pairs.py): the noisy image is the input, the clean one the reference;
    the output is clipped and rounded to 8 bits, as a saved photo is; PSNR and SSIM on the full image."""

    noisy: dict[str, np.ndarray] = field(repr=False, hash=False, compare=False)
    kind = "real"
    label = "real"

    def reference(self, clean: np.ndarray) -> np.ndarray:
        return clean

    def degrade(self, clean: np.ndarray, name: str) -> np.ndarray:
        return self.noisy[name]

    def finish(self, output: np.ndarray) -> np.ndarray:
        return np.round(np.clip(output, 0, 255))

    def scored(self, image: np.ndarray) -> np.ndarray:
        return image


Condition = Noise | Downscale | RealNoise
STANDARD_SIGMAS = (15.0, 25.0, 50.0)


def standard_conditions(scale: int, sigmas: Sequence[float] = STANDARD_SIGMAS) -> list[Condition]:
    """The protocol a model is scored under: noise at `sigmas` for a denoiser, its own factor otherwise."""
    return [Noise(s) for s in sigmas] if scale == 1 else [Downscale(scale)]


def load_eval_images(folder: str | Path, channels: int) -> list[tuple[str, np.ndarray]]:
    """(name, H×W×C float64 in [0, 255]) for every image in `folder`, converted to `channels`."""
    return [(name, array.astype(np.float64)) for name, array in read_image_folder(folder, channels)]


_PAIR_SUFFIXES = {"noisy": "_real", "clean": "_mean"}


def find_pairs(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, noisy file, clean file) for a folder of real noisy/clean pairs: `noisy/` and `clean/` subfolders
    holding the same names, or `NAME_real.*` beside `NAME_mean.*` (the PolyU layout; case-insensitive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of noisy/clean pairs")
    if (folder / "noisy").is_dir() and (folder / "clean").is_dir():
        noisy, clean = (_images_by_stem(folder / side, lambda stem: stem) for side in ("noisy", "clean"))
    else:
        noisy, clean = (_images_by_stem(folder, _pair_name(suffix)) for suffix in _PAIR_SUFFIXES.values())
    if not noisy:
        raise ConfigError(
            f"{folder}: no noisy/clean pairs found; give a folder with noisy/ and clean/ subfolders holding the "
            "same names, or NAME_real.* files beside NAME_mean.* files"
        )
    unmatched = sorted(set(noisy) ^ set(clean))
    if unmatched:
        raise ConfigError(
            f"{folder}: {len(unmatched)} image(s) without their other half, e.g. {unmatched[0]!r}; every noisy "
            "image needs a clean reference of the same name"
        )
    return [(name, noisy[name], clean[name]) for name in sorted(noisy)]


def _pair_name(suffix: str) -> Callable[[str], str | None]:
    return lambda stem: stem[: -len(suffix)] if stem.lower().endswith(suffix) else None


def _images_by_stem(folder: Path, name_of: Callable[[str], str | None]) -> dict[str, Path]:
    found = {}
    for path in sorted(folder.iterdir()):
        name = name_of(path.stem) if path.suffix.lower() in IMAGE_SUFFIXES else None
        if name is not None:
            found[name] = path
    return found


def load_pairs(folder: str | Path, channels: int) -> tuple[list[tuple[str, np.ndarray]], RealNoise]:
    """The clean references as evaluation images, and the condition holding their noisy halves."""
    images, noisy = [], {}
    for name, noisy_path, clean_path in find_pairs(folder):
        clean = as_8bit(read_image(clean_path)[0], channels).astype(np.float64)
        noisy[name] = as_8bit(read_image(noisy_path)[0], channels).astype(np.float64)
        if noisy[name].shape != clean.shape:
            raise ConfigError(
                f"{noisy_path.name} is {noisy[name].shape[1]}×{noisy[name].shape[0]} but its reference "
                f"{clean_path.name} is {clean.shape[1]}×{clean.shape[0]}; a pair must be the same size"
            )
        images.append((name, clean))
    return images, RealNoise(noisy)


def baseline_method(name: str, condition: Condition) -> Method:
    """The classical method `name` for `condition`: "nlm" (scikit-image non-local means) or "bm3d" (the bm3d
    package) for Gaussian noise, given the true sigma (the learned models are blind; these are not); for real
    noise, the input itself, OpenCV's colour non-local means at h = 3 or 5 (the one-liner photo users reach
    for) or BM3D with the noise level estimated per image; "bicubic" or "lanczos" interpolation for
    downscaling."""
    if name not in BASELINES[condition.kind]:
        raise ConfigError(
            f"unknown baseline {name!r} for {condition.kind}; choose from {', '.join(BASELINES[condition.kind])}"
        )
    if isinstance(condition, RealNoise):
        return _real_noise_baseline(name)
    if isinstance(condition, Downscale):
        method = Image.BICUBIC if name == "bicubic" else Image.LANCZOS

        def upscale(x: np.ndarray) -> np.ndarray:
            big = resize(x * 255.0, x.shape[0] * condition.scale, x.shape[1] * condition.scale, method)
            return (big / 255.0).astype(np.float32)

        return upscale
    s = condition.sigma / 255.0
    if name == "bm3d":
        return _bm3d(lambda x: s)
    restoration = require("skimage.restoration", "the nlm baseline")

    def nlm(x: np.ndarray) -> np.ndarray:
        return restoration.denoise_nl_means(
            x, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=2
        ).astype(np.float32)

    return nlm


def _real_noise_baseline(name: str) -> Method:
    if name == "input":
        return lambda x: x
    if name == "bm3d":
        restoration = require("skimage.restoration", "the bm3d baseline's noise estimate")
        return _bm3d(lambda x: float(restoration.estimate_sigma(x, channel_axis=2, average_sigmas=True)))
    cv2 = require("cv2", "the opencv-nlm baselines")
    strength = float(name.rsplit("-", 1)[1])

    def opencv_nlm(x: np.ndarray) -> np.ndarray:
        codes = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
        if codes.shape[2] == 1:
            return cv2.fastNlMeansDenoising(codes[..., 0], None, strength, 7, 21)[..., None] / np.float32(255)
        bgr = np.ascontiguousarray(codes[..., ::-1])
        out = cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, 7, 21)
        return out[..., ::-1].astype(np.float32) / 255

    return opencv_nlm


def _bm3d(noise_level: Callable[[np.ndarray], float]) -> Method:
    """BM3D (the bm3d package; CBM3D for colour) at the noise level `noise_level` gives for each input."""
    try:
        import bm3d  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError("the bm3d baseline needs the bm3d package: pip install 'effrestore[baselines]'") from None

    def run_bm3d(x: np.ndarray) -> np.ndarray:
        s = noise_level(x)
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
            scored_height, scored_width = condition.scored(reference).shape[:2]
            if with_ssim and min(scored_height, scored_width) < SSIM_WINDOW:
                raise ImageError(
                    f"{name}: {scored_width}×{scored_height} scored pixels is smaller than SSIM's "
                    f"{SSIM_WINDOW}×{SSIM_WINDOW} window; evaluate on images at least {SSIM_WINDOW} pixels a side"
                )
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
