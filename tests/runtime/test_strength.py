"""--strength: 0 returns the input, 1 the model's output, in between their blend, through every entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effrestore.errors import ConfigError
from effrestore.runtime import Restorer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"


def test_strength_blends_input_and_output(models_dir: Path) -> None:
    image = np.asarray(Image.open(SAMPLE))[:72, :88]
    restorer = Restorer.load(models_dir / "glmha.onnx", tile=64, tile_overlap=8, backend="onnxruntime")
    values = image.astype(np.float32) / 255
    full = restorer.restore(values)
    assert np.abs(full - values).max() > 0.01, "the model changes the image, so the blend is visible"
    np.testing.assert_allclose(restorer.restore(values, strength=0.25), 0.75 * values + 0.25 * full, atol=1e-6)
    np.testing.assert_array_equal(restorer.restore(image, strength=0.0), image)
    loaded = Restorer.load(models_dir / "glmha.onnx", tile=64, tile_overlap=8, backend="onnxruntime", strength=0.5)
    np.testing.assert_array_equal(loaded.restore(image), restorer.restore(image, strength=0.5))
    assert not np.array_equal(loaded.restore(image), restorer.restore(image))
    gray = image[..., 0]
    np.testing.assert_array_equal(restorer.restore(gray, strength=0.0), gray)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True])
def test_strength_outside_the_unit_interval_is_refused(models_dir: Path, bad: float) -> None:
    with pytest.raises(ConfigError, match="strength must be between 0"):
        Restorer.load(models_dir / "glmha.onnx", strength=bad)
    restorer = Restorer.load(models_dir / "glmha.onnx")
    with pytest.raises(ConfigError, match="strength must be between 0"):
        restorer.restore(np.zeros((16, 16, 3), np.uint8), strength=bad)


def test_strength_is_refused_for_super_resolution(models_dir: Path) -> None:
    with pytest.raises(ConfigError, match="leave --strength at 1 for super-resolution"):
        Restorer.load(models_dir / "conv-x2.onnx", strength=0.5)


def test_cli_strength(models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "zero.png"
    model = str(models_dir / "glmha.onnx")
    done = subprocess.run(
        [sys.executable, "-m", "effrestore", "run", str(SAMPLE), "-o", str(out), "--model", model, "--strength", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(SAMPLE)))
    refused = subprocess.run(
        [sys.executable, "-m", "effrestore", "run", str(SAMPLE), "-o", str(tmp_path / "x.png"), "--strength", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and "strength must be between 0" in refused.stderr
    assert not (tmp_path / "x.png").exists()
