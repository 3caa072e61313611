"""Writes the small sample images in this folder from photos bundled with scikit-image.

Each sample is a 256×256 crop saved clean (`<name>.png`) and with Gaussian noise of sigma 25 on the
[0, 255] scale, quantised to 8 bits (`<name>-noisy25.png`); the colour ones also with camera noise
(`<name>-camera.png`: effrestore's camera noise model at a high-ISO level, demosaiced, JPEG-compressed).
Run: python samples/make_samples.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from effrestore.models.degradations import CameraNoise, camera_pair

HERE = Path(__file__).parent
SIGMA = 25.0
CROPS = {  # name -> (loader, top, left)
    "astronaut": (data.astronaut, 30, 140),
    "coffee": (data.coffee, 100, 200),
    "chelsea": (data.chelsea, 20, 60),
    "camera": (data.camera, 60, 150),
}


def main() -> None:
    for index, (name, (load, top, left)) in enumerate(CROPS.items()):
        clean = load()[top : top + 256, left : left + 256]
        noise = np.random.default_rng(index).normal(0.0, SIGMA, clean.shape)
        noisy = np.clip(np.round(clean.astype(np.float64) + noise), 0, 255).astype(np.uint8)
        Image.fromarray(clean).save(HERE / f"{name}.png", optimize=True)
        Image.fromarray(noisy).save(HERE / f"{name}-noisy25.png", optimize=True)
        if clean.ndim == 3:
            Image.fromarray(camera_noisy(clean, index)).save(HERE / f"{name}-camera.png", optimize=True)


def camera_noisy(clean: np.ndarray, seed: int) -> np.ndarray:
    """`clean` through a drawn camera at a fixed high-ISO noise level (shot gain 4e-3), with JPEG at 90."""
    rng = np.random.default_rng(seed)
    camera = dataclasses.replace(CameraNoise().draw(rng), shot=4e-3, read=2e-5, jpeg_quality=90, jpeg_subsampling=2)
    noisy, _ = camera_pair(clean.astype(np.float32) / 255, camera, rng)
    return np.round(noisy * 255).astype(np.uint8)


if __name__ == "__main__":
    main()
