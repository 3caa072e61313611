"""The evaluation protocols: fixed seeds, unclipped noise, the identity denoiser's analytic PSNR, and the
super-resolution protocol (8-bit bicubic input, luma PSNR with a shaved border)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effrestore.errors import ConfigError, ImageError
from effrestore.evaluation import Downscale, Noise, baseline_method, evaluate, load_eval_images, luma, noisy_version

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
    (result,) = evaluate({"identity": lambda c: lambda x: x}, images, [Noise(25)], with_ssim=False)
    assert result.psnr == pytest.approx(20 * np.log10(255 / 25), abs=0.05)  # 20.17 dB


def test_super_resolution_protocol() -> None:
    photo = np.asarray(Image.open(ROOT / "samples" / "astronaut.png"), dtype=np.float64)[:101, :99]
    x2 = Downscale(2)
    reference = x2.reference(photo)
    assert reference.shape == (100, 98, 3), "cropped to a multiple of the scale"
    small = x2.degrade(reference, "astronaut")
    assert small.shape == (50, 49, 3) and np.array_equal(small, np.round(small)), "an 8-bit low-resolution input"

    def upsample(x: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(x, 2, axis=0), 2, axis=1)

    methods = {
        "perfect": lambda c: lambda x: (reference / 255.0).astype(np.float32),
        "bicubic": lambda c: baseline_method("bicubic", c),
        "nearest": lambda c: upsample,
    }
    scores = {r.method: r.psnr for r in evaluate(methods, [("astronaut", photo)], [x2], with_ssim=False)}
    assert scores["perfect"] == float("inf")
    assert 24 < scores["nearest"] < scores["bicubic"] < 40, scores
    y = luma(np.array([[[0.0, 0.0, 0.0], [255.0, 255.0, 255.0]]]))
    np.testing.assert_allclose(y[..., 0], [[16.0, 235.0]], atol=0.01)  # BT.601 studio range
    with pytest.raises(ConfigError, match="choose from bicubic, lanczos"):
        baseline_method("bm3d", x2)
    with pytest.raises(ConfigError, match="too small"):
        x2.reference(np.zeros((1, 5, 3)))


def test_sigma_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"sigma must be in \[0, 255\]"):
        noisy_version(np.zeros((4, 4, 1)), "x", 300)


def test_bad_eval_folders(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images found"):
        load_eval_images(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError, match=r"broken\.png"):
        load_eval_images(tmp_path, 3)


@pytest.mark.slow  # runs BM3D through the CLI (~30 s)
def test_eval_cli_with_baseline(tmp_path: Path) -> None:
    from effrestore.models import build_model, save_checkpoint

    save_checkpoint(build_model("restormer-xs", attention="none"), tmp_path / "m.safetensors")
    save_checkpoint(build_model("restormer-xs", attention="none", scale=2), tmp_path / "sr.safetensors")
    data = tmp_path / "data"
    data.mkdir()
    Image.open(ROOT / "samples" / "coffee.png").crop((0, 0, 96, 80)).save(data / "coffee.png")

    def eval_cli(*args: str, model: str = "m.safetensors") -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "effrestore", "eval", str(tmp_path / model), "--data", str(data)]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)

    result = eval_cli("--sigma", "25", "--baseline", "nlm", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["method"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"m.safetensors", "nlm"}
    assert rows["nlm"]["psnr"] > 22, "NL-means must improve on the 20.2 dB noisy input"
    refused = eval_cli("--sigma", "25", "--mem-budget", "1MiB")
    assert refused.returncode == 2 and "raise --mem-budget" in refused.stderr and "Traceback" not in refused.stderr
    bad = eval_cli("--sigma", "300")
    assert bad.returncode == 2 and "sigma must be in [0, 255]" in bad.stderr
    sr = eval_cli("--baseline", "bicubic", "--json", "--no-ssim", model="sr.safetensors")
    assert sr.returncode == 0, sr.stderr
    rows = {row["method"]: row for row in json.loads(sr.stdout)}
    assert rows["bicubic"]["scale"] == 2 and rows["bicubic"]["psnr"] > 20
    wrong = eval_cli("--sigma", "25", "--baseline", "bicubic", model="sr.safetensors")
    assert wrong.returncode == 2 and "drop --sigma" in wrong.stderr


def _write_pairs(folder: Path, layout: str) -> dict[str, float]:
    """Two real-noise-like pairs (camera noise model, JPEG noisy, PNG clean); returns each pair's input PSNR."""
    from effrestore.models.degradations import CameraNoise, camera_pair

    folder.mkdir()
    psnrs = {}
    for seed, name in enumerate(("coffee", "chelsea")):
        clean = np.asarray(Image.open(ROOT / "samples" / f"{name}.png"), dtype=np.float32)[:96, :128] / 255
        rng = np.random.default_rng(seed)
        noisy, _ = camera_pair(clean, CameraNoise(log_shot_range=(-6.0, -5.0)).draw(rng), rng)
        noisy8, clean8 = (np.round(a * 255).astype(np.uint8) for a in (noisy, clean))
        if layout == "suffix":
            Image.fromarray(noisy8).save(folder / f"{name}_Real.png")
            Image.fromarray(clean8).save(folder / f"{name}_mean.png")
        else:
            for side, array in (("noisy", noisy8), ("clean", clean8)):
                (folder / side).mkdir(exist_ok=True)
                Image.fromarray(array).save(folder / side / f"{name}.png")
        psnrs[name] = 10 * np.log10(255**2 / np.mean((noisy8.astype(float) - clean8) ** 2))
    return psnrs


def test_eval_pairs_scores_models_and_real_noise_baselines_on_the_same_inputs(tmp_path: Path) -> None:
    from effrestore.models import build_model, save_checkpoint

    save_checkpoint(build_model("restormer-xs", attention="none"), tmp_path / "m.safetensors")
    psnrs = _write_pairs(tmp_path / "pairs", "suffix")
    command = [sys.executable, "-m", "effrestore", "eval", str(tmp_path / "m.safetensors"), "denoise-color"]
    result = subprocess.run(
        [*command, "--pairs", str(tmp_path / "pairs"), "--baseline", "input", "--baseline", "opencv-nlm-3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["method"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"m.safetensors", "denoise-color", "input", "opencv-nlm-3"}
    for name, value in psnrs.items():
        assert rows["input"]["per_image"][name]["psnr"] == pytest.approx(value, abs=1e-3)
    assert set(rows["opencv-nlm-3"]["per_image"]) == set(psnrs), "every method scored on the same pairs"
    assert abs(rows["opencv-nlm-3"]["psnr"] - rows["input"]["psnr"]) > 0.01, "NL-means changed the images"
    assert rows["denoise-color"]["backend"] and rows["input"]["set"] == "real"
    assert all(0 < row["ssim"] <= 1 for row in rows.values())


def test_eval_threads_and_no_ssim_give_valid_json(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "pairs", "folders")
    command = [sys.executable, "-m", "effrestore", "eval", "denoise-color", "--pairs", str(tmp_path / "pairs")]
    result = subprocess.run(
        [*command, "--baseline", "input", "--threads", "1", "--no-ssim", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "NaN" not in result.stdout, "strict JSON: a score not computed is null"
    rows = json.loads(result.stdout)
    assert {row["method"] for row in rows} == {"denoise-color", "input"}
    assert all(row["ssim"] is None for row in rows)
    assert all(image["ssim"] is None for row in rows for image in row["per_image"].values())
    refused = subprocess.run([*command, "--threads", "0"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "threads" in refused.stderr and "Traceback" not in refused.stderr


def test_bad_pair_folders(tmp_path: Path) -> None:
    from effrestore.evaluation import find_pairs, load_pairs

    _write_pairs(tmp_path / "folders", "folders")
    assert [(name, noisy.parent.name) for name, noisy, _ in find_pairs(tmp_path / "folders")] == [
        ("chelsea", "noisy"),
        ("coffee", "noisy"),
    ]
    _write_pairs(tmp_path / "pairs", "suffix")
    (tmp_path / "pairs" / "chelsea_mean.png").unlink()
    with pytest.raises(ConfigError, match=r"without their other half, e\.g\. 'chelsea'"):
        find_pairs(tmp_path / "pairs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no noisy/clean pairs found"):
        find_pairs(tmp_path / "empty")
    Image.new("RGB", (64, 64)).save(tmp_path / "pairs" / "chelsea_mean.png")
    with pytest.raises(ConfigError, match="must be the same size"):
        load_pairs(tmp_path / "pairs", 3)
    both = subprocess.run(
        [sys.executable, "-m", "effrestore", "eval", "denoise-color", "--pairs", str(tmp_path), "--sigma", "25"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert both.returncode == 2 and "drop --sigma" in both.stderr


def test_images_smaller_than_the_ssim_window_are_refused_by_name(tmp_path: Path) -> None:
    Image.new("RGB", (5, 5), "gray").save(tmp_path / "tiny.png")
    result = subprocess.run(
        [sys.executable, "-m", "effrestore", "eval", "denoise-color", "--data", str(tmp_path), "--sigma", "25"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "tiny: 5×5" in result.stderr and "11×11 window" in result.stderr, result.stderr


def test_two_models_with_one_file_name_get_rows_of_their_own() -> None:
    from effrestore.cli.commands.evaluate import method_labels

    models = ["runs/a/model.safetensors", "runs/b/model.safetensors", "denoise-color", "x/m.onnx"]
    assert method_labels(models) == {
        "runs/a/model.safetensors": "runs/a/model.safetensors",
        "runs/b/model.safetensors": "runs/b/model.safetensors",
        "denoise-color": "denoise-color",
        "x/m.onnx": "m.onnx",
    }
