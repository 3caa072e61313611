"""Shipped models: load by name without torch, carry effrestore metadata, and really denoise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from effrestore.quality import psnr
from effrestore.runtime.backends.openvino import cpu_capabilities
from effrestore.zoo import DEFAULT_MODEL, require_entry

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CASES = [
    ("denoise-color", "astronaut"),
    ("denoise-gray", "camera"),
    ("denoise-color-hq", "astronaut"),
    ("denoise-photo", "chelsea"),
]


@pytest.mark.parametrize(("name", "sample"), CASES)
def test_shipped_model_denoises_without_torch(name: str, sample: str, tmp_path: Path) -> None:
    entry = require_entry(name)
    props = {p.key: p.value for p in onnx.load(str(entry.onnx)).metadata_props}
    assert props["effrestore.task"] == "denoise" and props["effrestore.multiple_of"] == "8"
    assert "validation_psnr" in entry.card and "baseline_psnr" in entry.card
    out = tmp_path / "out.png"
    code = f"""
import sys
sys.modules["torch"] = None
from effrestore.runtime import Restorer
Restorer.load({name!r}).restore_file({str(SAMPLES / f"{sample}-noisy25.png")!r}, {str(out)!r})
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    clean = np.asarray(Image.open(SAMPLES / f"{sample}.png"), dtype=np.float64)
    noisy = np.asarray(Image.open(SAMPLES / f"{sample}-noisy25.png"), dtype=np.float64)
    restored = np.asarray(Image.open(out), dtype=np.float64)
    gain = psnr(clean, restored) - psnr(clean, noisy)
    print(f"{name} on {sample}: noisy {psnr(clean, noisy):.2f} dB -> restored {psnr(clean, restored):.2f} dB")
    assert gain >= 5


def test_hq_model_is_the_gray_network_on_opponent_planes() -> None:
    """denoise-color-hq ships denoise-gray's weights unchanged, run per opponent colour plane."""
    from safetensors.numpy import load_file

    hq, gray = require_entry("denoise-color-hq"), require_entry("denoise-gray")
    assert hq.card["config"]["opponent_color"] and hq.card["config"]["in_channels"] == 3
    hq_weights, gray_weights = load_file(hq.checkpoint), load_file(gray.checkpoint)
    assert hq_weights.keys() == gray_weights.keys()
    for name, tensor in gray_weights.items():
        np.testing.assert_array_equal(hq_weights[name], tensor)


def test_run_without_model_uses_the_shipped_default(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    result = subprocess.run(
        [sys.executable, "-m", "effrestore", "run", str(SAMPLES / "coffee-noisy25.png"), "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert DEFAULT_MODEL == "denoise-photo"
    recorded = "bf16_psnr_delta" in require_entry(DEFAULT_MODEL).card  # auto takes bf16 only with a record
    expected = "bf16" if recorded and "BF16" in cpu_capabilities() else "fp32"
    assert (row["backend"], row["precision"]) == ("openvino", expected) and out.exists()


@pytest.mark.parametrize("sample", ["astronaut", "coffee"])
def test_the_photo_model_cleans_camera_noise_and_leaves_a_clean_photo_alone(sample: str) -> None:
    """Camera noise (the samples' demosaiced, noise-reduced, JPEG'd noise) is removed; a clean photo comes
    back nearly unchanged (the model must not invent or erase detail where there is no noise)."""
    from effrestore.runtime import Restorer

    restorer = Restorer.load("denoise-photo", threads=2)
    clean = np.asarray(Image.open(SAMPLES / f"{sample}.png"), dtype=np.float64)
    noisy = np.asarray(Image.open(SAMPLES / f"{sample}-camera.png"))
    restored = restorer.restore(noisy).astype(np.float64)
    assert psnr(clean, restored) - psnr(clean, noisy.astype(np.float64)) >= 1  # measured: astronaut +1.76 dB
    untouched = restorer.restore(clean.astype(np.uint8)).astype(np.float64)
    assert psnr(clean, untouched) >= 40


def test_shipped_super_resolution_beats_bicubic_without_torch() -> None:
    props = {p.key: p.value for p in onnx.load(str(require_entry("sr-x2").onnx)).metadata_props}
    assert props["effrestore.task"] == "super-resolution" and props["effrestore.scale"] == "2"
    code = f"""
import sys, json
sys.modules["torch"] = None
from effrestore.evaluation import Downscale, baseline_method, evaluate, load_eval_images
from effrestore.runtime import Restorer
restorer = Restorer.load("sr-x2")
images = [(n, a) for n, a in load_eval_images({str(SAMPLES)!r}, 3) if n in ("astronaut", "coffee")]
methods = {{"sr-x2": lambda c: restorer.restore, "bicubic": lambda c: baseline_method("bicubic", c)}}
print(json.dumps({{r.method: r.psnr for r in evaluate(methods, images, [Downscale(2)], with_ssim=False)}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    print(f"sr-x2 on astronaut + coffee: {scores['sr-x2']:.2f} dB, bicubic {scores['bicubic']:.2f} dB")
    assert scores["sr-x2"] > scores["bicubic"] + 0.3
