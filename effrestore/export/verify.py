"""One comparator for every parity check (export, build, tests): max abs error and PSNR."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from effrestore.quality import psnr


@dataclass(frozen=True)
class Comparison:
    """How far `candidate` is from `reference` (values on the model's [0, 1] scale)."""

    label: str
    shape: tuple[int, ...]
    max_abs_error: float
    psnr_db: float
    float32_noise: float | None = None  # max|reference in float32 - reference in float64|, when measured

    def within(self, atol: float | None = None, psnr_min: float | None = None) -> bool:
        """`atol` is widened to twice the reference's own float32 error when that was measured: two float32
        implementations of a numerically sensitive model may each be that far from the exact result."""
        if atol is not None and self.float32_noise is not None:
            atol = max(atol, 2 * self.float32_noise)
        ok_abs = atol is None or self.max_abs_error <= atol
        ok_psnr = psnr_min is None or self.psnr_db >= psnr_min
        return ok_abs and ok_psnr

    def __str__(self) -> str:
        size = "x".join(map(str, self.shape))
        noise = "" if self.float32_noise is None else f" (torch float32 vs float64: {self.float32_noise:.2e})"
        return f"{self.label} {size}: max|Δ| {self.max_abs_error:.2e}, PSNR {self.psnr_db:.1f} dB{noise}"

    def with_float32_noise(self, reference32: np.ndarray, reference64: np.ndarray) -> Comparison:
        noise = float(np.max(np.abs(reference32.astype(np.float64) - reference64)))
        return dataclasses.replace(self, float32_noise=noise)


def compare(label: str, reference: np.ndarray, candidate: np.ndarray, peak: float = 1.0) -> Comparison:
    if reference.shape != candidate.shape:
        return Comparison(label, tuple(candidate.shape), float("inf"), float("-inf"))
    diff = reference.astype(np.float64) - candidate.astype(np.float64)
    max_abs = float(np.max(np.abs(diff))) if np.isfinite(diff).all() else float("inf")
    return Comparison(label, tuple(reference.shape), max_abs, psnr(reference, candidate, peak))
