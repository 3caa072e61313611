"""Peak memory vs pixel count, measured in a fresh subprocess per size (peak RSS).

The lower bound for the linear families is loose: the allocator reuses freed blocks, so small fixed
costs and reuse pull fitted exponents below 1 (GSA measures about 0.7). Quadratic SAGAN measures about 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = Path(__file__).with_name("_memory_probe.py")
DIM = 32
SIZES = {"sagan": (48, 72, 96), "default": (256, 384, 512)}


def peak_growth(kind: str, size: int) -> int:
    out = subprocess.run(
        [sys.executable, str(PROBE), kind, str(DIM), str(size)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def fitted_exponent(kind: str) -> float:
    sizes = SIZES.get(kind, SIZES["default"])
    pixels = np.array([s * s for s in sizes], dtype=float)
    peaks = np.array([peak_growth(kind, s) for s in sizes], dtype=float)
    slope = np.polyfit(np.log(pixels), np.log(peaks), 1)[0]
    print(
        f"{kind}: pixels {pixels.astype(int).tolist()} peak MiB {(peaks / 2**20).round(1).tolist()} "
        f"exponent {slope:.2f}"
    )
    return float(slope)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset")
@pytest.mark.parametrize("kind", ["sagan", "linear_sa", "mdta", "glmha", "gsa", "stt"])
def test_memory_exponent(kind: str) -> None:
    exponent = fitted_exponent(kind)
    if kind == "sagan":
        assert exponent > 1.7, f"SAGAN should grow ~N², fitted N^{exponent:.2f}"
    else:
        assert 0.6 < exponent < 1.3, f"{kind} should grow ~N, fitted N^{exponent:.2f}"
