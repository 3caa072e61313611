"""The evaluation protocol: fixed seeds, unclipped noise, the identity denoiser's analytic PSNR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effrestore.errors import ConfigError
from effrestore.evaluation import evaluate, load_eval_images, noisy_version

ROOT = Path(__file__).resolve().parents[1]


def test_same_seed_same_noise_and_no_clipping() -> None:
    clean = np.full((64, 64, 3), 250.0)
    a, b = noisy_version(clean, "x", 25), noisy_version(clean, "x", 25)
    np.testing.assert_array_equal(a, b)
    assert a.max() > 255, "noisy input must not be clipped"
    assert not np.array_equal(a, noisy_version(clean, "y", 25)), "seed must depend on the image"


def test_identity_denoiser_psnr_matches_analytic_value() -> None:
    # Mid-grey image: clipping the output at 0/255 almost never triggers at sigma 25 (5 sigma away).
    images = [(f"img{i}", np.full((256, 256, 3), 128.0)) for i in range(3)]
    (result,) = evaluate({"identity": lambda s: lambda x: x}, images, [25], with_ssim=False)
    assert result.psnr == pytest.approx(20 * np.log10(255 / 25), abs=0.05)  # 20.17 dB


def test_sigma_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"sigma must be in \[0, 255\]"):
        noisy_version(np.zeros((4, 4, 1)), "x", 300)


def test_bad_eval_folders(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images found"):
        load_eval_images(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ConfigError, match="cannot read"):
        load_eval_images(tmp_path, 3)


def test_eval_cli_with_baseline(tmp_path: Path) -> None:
    from effrestore.models import build_model, save_checkpoint

    save_checkpoint(build_model("restormer-xs", attention="none"), tmp_path / "m.safetensors")
    data = tmp_path / "data"
    data.mkdir()
    Image.open(ROOT / "samples" / "coffee.png").crop((0, 0, 96, 80)).save(data / "coffee.png")

    def eval_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "effrestore", "eval", str(tmp_path / "m.safetensors"), "--data", str(data)]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)

    result = eval_cli("--sigma", "25", "--baseline", "nlm", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["method"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"m.safetensors", "nlm"}
    assert rows["nlm"]["psnr"] > 22, "NL-means must improve on the 20.2 dB noisy input"
    bad = eval_cli("--sigma", "300")
    assert bad.returncode == 2 and "sigma must be in [0, 255]" in bad.stderr
