"""Packaged data: a real photo crop that parity and precision checks run on (torch-free)."""

from __future__ import annotations

from importlib import resources

import numpy as np
from PIL import Image


def sample_image(channels: int, height: int, width: int) -> np.ndarray:
    """A real photo crop (packaged), resized, as float32 1×C×H×W in [0, 1]."""
    with resources.files("effrestore.assets").joinpath("verify.png").open("rb") as handle:
        image = Image.open(handle).convert("RGB" if channels == 3 else "L").resize((width, height), Image.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[..., None] if array.ndim == 2 else array
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])
