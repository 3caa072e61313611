"""Shared fixtures: paths to the committed sample images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def sample_rgb() -> np.ndarray:
    """A clean 256×256 RGB photo as float32 in [0, 1]."""
    return np.asarray(Image.open(SAMPLES / "astronaut.png"), dtype=np.float32) / 255.0
