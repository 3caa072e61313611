"""Realistic camera noise for training: clean sRGB → raw → shot + read noise → camera pipeline → JPEG.

Real photo noise is not white: it is added to the raw sensor values (its variance grows with the signal),
then spread over neighbouring pixels and channels by demosaicing and colour correction, bent by the tone
curve and blocked by JPEG. A white-noise denoiser reads it as texture. Following Brooks et al.,
"Unprocessing Images for Learned Raw Denoising" (CVPR 2019), each clean crop is inverted to a plausible
raw mosaic, noised there, and processed back by a randomly drawn camera, so the pair (noisy, clean) has the
noise a camera would have produced. Every parameter is drawn from one seeded generator per sample.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from effrestore._lazy import require

Demosaicer = Literal["bilinear", "edge-aware"]
DEMOSAICERS: tuple[Demosaicer, ...] = ("bilinear", "edge-aware")

# XYZ → camera matrices of four real cameras (Brooks et al.'s set; from their raw files' DNG metadata).
_XYZ_TO_CAMERA = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.613, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.838, -0.263, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.097, 0.1581, 0.5181]],
    ]
)
_SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
# Shot/read noise of real sensors lie near one line in log space across ISO (Brooks et al., fig. 2):
# log(read variance) = 2.18 · log(shot gain) + 1.20, with a spread of 0.26 around it. Brooks et al. draw the
# shot gain from [1e-4, 1.2e-2]; the range here starts lower, down to the light noise of large sensors at
# moderate ISO (noisy crops from about 45 dB down to 17 dB PSNR).
_LOG_SHOT_RANGE = (np.log(2e-5), np.log(1.2e-2))
_READ_SLOPE, _READ_INTERCEPT, _READ_SPREAD = 2.18, 1.20, 0.26


@dataclass(frozen=True)
class Camera:
    """One drawn camera and exposure: colour matrix, white balance, noise levels, demosaicer, JPEG."""

    rgb_to_camera: np.ndarray  # 3×3, rows sum to 1 (white stays white)
    gains: np.ndarray  # red, green, blue white-balance gains (digital gain folded in)
    shot: float  # raw variance per unit of signal (Poisson-like part)
    read: float  # raw variance independent of the signal (read noise)
    demosaicer: Demosaicer
    luma_blur: float  # σ in pixels of the camera's luma noise reduction (0: none)
    chroma_blur: float  # σ in pixels of the camera's chroma noise reduction (0: none)
    jpeg_quality: int | None  # None: no JPEG
    jpeg_subsampling: int  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0


@dataclass(frozen=True)
class CameraNoise:
    """The distribution cameras are drawn from: Brooks et al.'s, plus the camera's noise reduction and JPEG.

    Cameras denoise before they save a JPEG: mildly in luma, strongly in chroma. What survives is noise
    correlated over a few pixels (grain) and colour blotches spread over many, which a network trained on
    per-pixel noise reads as texture. The reduction is modelled as a Gaussian blur of the noise, separately in
    luma and chroma (as SCUNet's data synthesis spreads its noise spatially), with ranges wide enough to hold
    cameras with and without it. Chroma is reduced in nearly every sample and over up to 8 px: camera JPEGs
    keep less chroma than luma noise (about 0.6 of its std), and with a milder reduction the synthetic noise
    carried more chroma than luma, which taught the network to leave luma-dominated real grain alone."""

    log_shot_range: tuple[float, float] = _LOG_SHOT_RANGE
    luma_blur_fraction: float = 0.8
    luma_blur_range: tuple[float, float] = (0.5, 1.5)
    chroma_blur_fraction: float = 0.95
    chroma_blur_range: tuple[float, float] = (1.0, 8.0)
    jpeg_fraction: float = 0.5
    jpeg_quality_range: tuple[int, int] = (75, 98)

    def draw(self, rng: np.random.Generator) -> Camera:
        weights = rng.uniform(1e-8, 1.0, size=(len(_XYZ_TO_CAMERA), 1, 1))
        xyz_to_camera = (_XYZ_TO_CAMERA * weights).sum(axis=0) / weights.sum()
        rgb_to_camera = xyz_to_camera @ _SRGB_TO_XYZ
        rgb_to_camera /= rgb_to_camera.sum(axis=1, keepdims=True)
        digital = 1.0 / rng.normal(0.8, 0.1)
        gains = np.array([rng.uniform(1.9, 2.4), 1.0, rng.uniform(1.5, 1.9)]) * digital
        log_shot = rng.uniform(*self.log_shot_range)
        log_read = _READ_SLOPE * log_shot + _READ_INTERCEPT + rng.normal(0.0, _READ_SPREAD)
        jpeg = rng.random() < self.jpeg_fraction
        return Camera(
            rgb_to_camera=rgb_to_camera,
            gains=gains,
            shot=float(np.exp(log_shot)),
            read=float(np.exp(log_read)),
            demosaicer=DEMOSAICERS[int(rng.integers(len(DEMOSAICERS)))],
            luma_blur=float(rng.uniform(*self.luma_blur_range)) if rng.random() < self.luma_blur_fraction else 0.0,
            chroma_blur=float(rng.uniform(*self.chroma_blur_range))
            if rng.random() < self.chroma_blur_fraction
            else 0.0,
            jpeg_quality=int(rng.integers(self.jpeg_quality_range[0], self.jpeg_quality_range[1] + 1))
            if jpeg
            else None,
            jpeg_subsampling=int(rng.choice([2, 2, 1])),
        )


def srgb_to_raw(rgb: np.ndarray, camera: Camera) -> np.ndarray:
    """H×W×3 sRGB in [0, 1] → linear camera RGB before white balance (the camera pipeline run backwards)."""
    linear = _inverse_tone_curve(np.clip(rgb, 0.0, 1.0))
    linear = np.maximum(linear, 1e-8) ** 2.2
    raw = linear @ camera.rgb_to_camera.T
    return _safe_divide_gains(raw, camera.gains)


def mosaic(raw: np.ndarray) -> np.ndarray:
    """H×W×3 → H×W RGGB Bayer mosaic (H, W even)."""
    out = np.empty(raw.shape[:2], dtype=raw.dtype)
    out[0::2, 0::2] = raw[0::2, 0::2, 0]
    out[0::2, 1::2] = raw[0::2, 1::2, 1]
    out[1::2, 0::2] = raw[1::2, 0::2, 1]
    out[1::2, 1::2] = raw[1::2, 1::2, 2]
    return out


def add_sensor_noise(bayer: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Heteroscedastic Gaussian approximation of shot + read noise: variance = shot · signal + read."""
    variance = camera.shot * np.maximum(bayer, 0.0) + camera.read
    return bayer + rng.standard_normal(bayer.shape) * np.sqrt(variance)


def raw_to_srgb(bayer: np.ndarray, camera: Camera) -> np.ndarray:
    """The camera's own pipeline: white balance, demosaic, colour correction, gamma, tone curve."""
    balanced = bayer.copy()
    balanced[0::2, 0::2] *= camera.gains[0]
    balanced[0::2, 1::2] *= camera.gains[1]
    balanced[1::2, 0::2] *= camera.gains[1]
    balanced[1::2, 1::2] *= camera.gains[2]
    rgb = demosaic(np.clip(balanced, 0.0, 1.0), camera.demosaicer)
    rgb = np.clip(rgb @ np.linalg.inv(camera.rgb_to_camera).T, 0.0, 1.0)
    rgb = np.maximum(rgb, 1e-8) ** (1 / 2.2)
    return 3 * rgb**2 - 2 * rgb**3


def demosaic(bayer: np.ndarray, method: Demosaicer) -> np.ndarray:
    """RGGB mosaic in [0, 1] → H×W×3 by one of OpenCV's 16-bit demosaicers (its VNG takes 8 bits only, too
    coarse for linear raw values)."""
    cv2 = require("cv2", "camera-noise training")
    # OpenCV names a Bayer pattern by its second row's last two pixels: RGGB is its "BG" pattern.
    codes = np.round(bayer * 65535).astype(np.uint16)
    code = cv2.COLOR_BayerBG2RGB if method == "bilinear" else cv2.COLOR_BayerBG2RGB_EA
    return cv2.cvtColor(codes, code).astype(np.float64) / 65535


def reduce_noise(noise: np.ndarray, luma_sigma: float, chroma_sigma: float) -> np.ndarray:
    """Blurs H×W×3 noise in YCbCr, luma by `luma_sigma` and chroma by `chroma_sigma` pixels (0: untouched):
    the camera's noise reduction, leaving fine grain and the low-frequency colour blotches of real high-ISO
    photos."""
    cv2 = require("cv2", "camera-noise training")
    ycc = noise @ _RGB_TO_YCBCR.T
    for channel, sigma in ((0, luma_sigma), (1, chroma_sigma), (2, chroma_sigma)):
        if sigma:
            ycc[..., channel] = cv2.GaussianBlur(ycc[..., channel], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return ycc @ np.linalg.inv(_RGB_TO_YCBCR).T


def jpeg_roundtrip(rgb: np.ndarray, quality: int, subsampling: int) -> np.ndarray:
    """Encodes H×W×3 [0, 1] as a JPEG (libjpeg through Pillow) and decodes it again."""
    buffer = io.BytesIO()
    codes = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(codes).save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64) / 255


def camera_pair(clean: np.ndarray, camera: Camera, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) for one H×W×3 clean crop in [0, 1].

    The noise is what the camera pipeline makes of raw sensor noise: the difference between the pipeline's
    output with and without it, added to the clean crop, then JPEG-compressed. The target stays the clean
    crop itself: demosaicing a noise-free mosaic of a small, detailed training crop leaves false colours that
    a full-resolution camera photo does not have, and the network must not learn to keep them."""
    clean = clean.astype(np.float64)
    bayer = mosaic(srgb_to_raw(clean, camera))
    noise = raw_to_srgb(add_sensor_noise(bayer, camera, rng), camera) - raw_to_srgb(bayer, camera)
    if camera.luma_blur or camera.chroma_blur:
        noise = reduce_noise(noise, camera.luma_blur, camera.chroma_blur)
    noisy = np.clip(clean + noise, 0.0, 1.0)
    if camera.jpeg_quality is not None:
        noisy = jpeg_roundtrip(noisy, camera.jpeg_quality, camera.jpeg_subsampling)
    return noisy.astype(np.float32), clean.astype(np.float32)


def _inverse_tone_curve(y: np.ndarray) -> np.ndarray:
    """Inverse of the smoothstep 3x² − 2x³ that stands in for a camera's global tone curve."""
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)


def _safe_divide_gains(raw: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Divides by the white-balance gains, easing off near white so highlights do not clip when re-applied."""
    gray = raw.mean(axis=-1, keepdims=True)
    inverse = 1.0 / gains
    mask = (np.maximum(gray - 0.9, 0.0) / 0.1) ** 2
    safe = np.maximum(mask + (1.0 - mask) * inverse, inverse)
    return raw * safe
