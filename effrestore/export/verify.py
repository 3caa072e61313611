"""One comparator for every parity check (export, build, tests): max abs error and PSNR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """How far `candidate` is from `reference` (values on the model's [0, 1] scale)."""

    label: str
    shape: tuple[int, ...]
    max_abs_error: float
    psnr_db: float

    def within(self, atol: float | None = None, psnr_min: float | None = None) -> bool:
        ok_abs = atol is None or self.max_abs_error <= atol
        ok_psnr = psnr_min is None or self.psnr_db >= psnr_min
        return ok_abs and ok_psnr

    def __str__(self) -> str:
        size = "x".join(map(str, self.shape))
        return f"{self.label} {size}: max|Δ| {self.max_abs_error:.2e}, PSNR {self.psnr_db:.1f} dB"


def compare(label: str, reference: np.ndarray, candidate: np.ndarray, peak: float = 1.0) -> Comparison:
    if reference.shape != candidate.shape:
        return Comparison(label, tuple(candidate.shape), float("inf"), float("-inf"))
    diff = reference.astype(np.float64) - candidate.astype(np.float64)
    mse = float(np.mean(diff**2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)
    max_abs = float(np.max(np.abs(diff))) if np.isfinite(diff).all() else float("inf")
    return Comparison(label, tuple(reference.shape), max_abs, psnr)
