"""PSNR, the one image-quality number the project reports (evaluation, export parity, the bf16 check)."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, estimate: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of `estimate` against `reference` for samples in [0, peak]; inf when they are equal."""
    mse = float(np.mean((reference.astype(np.float64) - estimate.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))
