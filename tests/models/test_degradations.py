"""The camera noise model measured: signal-dependent raw noise, correlation after demosaicing, determinism."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from effrestore.errors import ConfigError
from effrestore.models.degradations import (
    DEMOSAICERS,
    Camera,
    CameraNoise,
    add_sensor_noise,
    camera_pair,
    mosaic,
    raw_to_srgb,
    reduce_noise,
    srgb_to_raw,
)
from effrestore.models.training import TrainConfig, make_sampler, training_pair


def plain_camera(seed: int = 0, **changes: object) -> Camera:
    """A drawn camera without JPEG or noise reduction, so the measured noise is the sensor's."""
    camera = CameraNoise().draw(np.random.default_rng(seed))
    return dataclasses.replace(camera, jpeg_quality=None, luma_blur=0.0, chroma_blur=0.0, **changes)


def test_raw_noise_variance_grows_with_the_signal() -> None:
    camera = plain_camera(shot=4e-3, read=1e-5)
    levels = np.linspace(0.05, 0.9, 8)
    rng = np.random.default_rng(1)
    variances = [np.var(add_sensor_noise(np.full((128, 128), level), camera, rng) - level) for level in levels]
    slope, intercept = np.polyfit(levels, variances, 1)
    assert slope == pytest.approx(camera.shot, rel=0.1), "variance rises by the shot gain per unit of signal"
    assert intercept == pytest.approx(camera.read, abs=3e-5)


def test_drawn_noise_levels_follow_the_log_linear_sensor_relation() -> None:
    cameras = [CameraNoise().draw(np.random.default_rng(seed)) for seed in range(400)]
    log_shot = np.log([c.shot for c in cameras])
    log_read = np.log([c.read for c in cameras])
    slope, intercept = np.polyfit(log_shot, log_read, 1)
    assert slope == pytest.approx(2.18, abs=0.1) and intercept == pytest.approx(1.20, abs=0.6)
    assert {c.demosaicer for c in cameras} == set(DEMOSAICERS)
    assert 0.35 < np.mean([c.jpeg_quality is not None for c in cameras]) < 0.65
    assert {c.jpeg_subsampling for c in cameras if c.jpeg_quality} == {1, 2}


@pytest.mark.parametrize("demosaicer", DEMOSAICERS)
def test_demosaicing_correlates_neighbouring_pixels_and_channels(demosaicer: str) -> None:
    camera = plain_camera(demosaicer=demosaicer, shot=2e-3, read=1e-5)
    flat = np.full((128, 128, 3), 0.45)
    rng = np.random.default_rng(2)
    raw_noise = add_sensor_noise(mosaic(srgb_to_raw(flat, camera)), camera, rng) - mosaic(srgb_to_raw(flat, camera))
    noisy, clean = camera_pair(flat, camera, rng)
    noise = (noisy - clean)[4:-4, 4:-4]

    def neighbour_correlation(field: np.ndarray) -> float:
        return float(np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1])

    assert abs(neighbour_correlation(raw_noise)) < 0.05, "sensor noise itself is independent per pixel"
    assert neighbour_correlation(noise[..., 1]) > 0.2, "demosaicing spreads it over neighbours"
    cross = np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]
    assert abs(cross) > 0.2, "and the colour matrix mixes it across channels (negative entries: anti-correlated)"


def test_chroma_noise_reduction_keeps_luma_and_smooths_colour() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.05, (64, 64, 3))
    smoothed = reduce_noise(noise, 0.0, 1.5)
    luma = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(smoothed @ luma, noise @ luma, atol=1e-9)
    assert np.std(smoothed[..., 0] - smoothed[..., 1]) < 0.5 * np.std(noise[..., 0] - noise[..., 1])


def test_luma_noise_reduction_leaves_grain_correlated_over_neighbours() -> None:
    """A blur of σ pixels makes white noise's neighbour correlation exp(−1/(4σ²)), measured here, and
    leaves the colour difference alone."""
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.05, (256, 256, 3))
    luma = np.array([0.299, 0.587, 0.114])
    for sigma in (0.6, 1.0):
        grain = reduce_noise(noise, sigma, 0.0) @ luma
        correlation = np.corrcoef(grain[:, :-1].ravel(), grain[:, 1:].ravel())[0, 1]
        assert correlation == pytest.approx(np.exp(-1 / (4 * sigma**2)), abs=0.08)
    kept = reduce_noise(noise, 1.0, 0.0)
    np.testing.assert_allclose(kept[..., 0] - kept[..., 2], noise[..., 0] - noise[..., 2], atol=1e-9)


def test_the_pipeline_inverts_what_it_unprocesses(sample_rgb: np.ndarray) -> None:
    """Unprocess then process, without noise, returns a smooth image: the camera model is self-consistent."""
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(sample_rgb).permute(2, 0, 1)[None], 8)
    smooth = torch.nn.functional.interpolate(small, scale_factor=4, mode="bilinear", align_corners=False)[0]
    smooth = np.ascontiguousarray(smooth.numpy().transpose(1, 2, 0)).astype(np.float64)
    for seed in range(3):
        camera = plain_camera(seed)
        back = raw_to_srgb(mosaic(srgb_to_raw(smooth, camera)), camera)
        error = (back - smooth)[2:-2, 2:-2]
        assert 10 * np.log10(1 / np.mean(error**2)) > 35, f"seed {seed}: {camera.demosaicer}"


def test_same_seed_same_pair_and_jpeg_changes_the_noisy_only(sample_rgb: np.ndarray) -> None:
    crop = sample_rgb[:64, :64]

    def pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return camera_pair(crop, CameraNoise(jpeg_fraction=1.0).draw(rng), rng)

    first, again, other = pair(5), pair(5), pair(6)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])
    np.testing.assert_array_equal(first[1], crop), "the target is the clean crop"
    assert np.all((first[0] >= 0) & (first[0] <= 1)) and first[0].dtype == np.float32
    codes = first[0] * 255
    assert np.abs(codes - np.round(codes)).max() < 1e-3, "the JPEG'd input holds 8-bit values"


def test_training_batches_with_camera_noise() -> None:
    cfg = TrainConfig(
        overrides={"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 0, "heads": (1, 1, 1, 1)},
        synthetic_fraction=1.0,
        crop=32,
        batch=16,
        degradation="camera",
        gaussian_fraction=0.25,
    )
    sampler = make_sampler(cfg)
    inputs, target = training_pair(cfg, sampler, step=3)
    again, _ = training_pair(cfg, sampler, step=3)
    torch.testing.assert_close(inputs, again, rtol=0, atol=0)
    assert inputs.shape == target.shape == (16, 3, 32, 32)
    clipped = ((inputs >= 0) & (inputs <= 1)).flatten(1).all(1)
    assert 0 < int((~clipped).sum()) < 16, "Gaussian samples (unclipped) and camera samples (clipped) both drawn"
    assert json.loads(cfg.to_json())["degradation"] == "camera"
    assert "degradation" not in json.loads(TrainConfig(synthetic_fraction=1.0).to_json()), "older runs resume"
    with pytest.raises(ConfigError, match="colour denoisers"):
        TrainConfig(synthetic_fraction=1.0, degradation="camera", overrides={"in_channels": 1})
    with pytest.raises(ConfigError, match="degradation must be"):
        TrainConfig(synthetic_fraction=1.0, degradation="poisson")  # type: ignore[arg-type]
