"""Training on generated (dead-leaves) images: the loss drops, and resume is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from effrestore.errors import CheckpointError, ConfigError, ImageError
from effrestore.models import load_checkpoint
from effrestore.models.data import CropSampler, add_blind_noise, dead_leaves, load_folder
from effrestore.models.training import (
    STATE_FILE,
    TrainConfig,
    learning_rate,
    load_state,
    make_sampler,
    new_state,
    train,
    train_step,
    training_pair,
    with_lineage,
)

TINY = {
    "dim": 8,
    "num_blocks": (1, 1, 1, 1),
    "num_refinement_blocks": 0,
    "heads": (1, 1, 1, 1),
    "attention": "glmha",
}


def config(steps: int, **kw: object) -> TrainConfig:
    base = dict(
        model="restormer-xs",
        overrides=TINY,
        synthetic_fraction=1.0,
        crop=32,
        batch=4,
        steps=steps,
        lr=3e-3,
        warmup=5,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def held_out_loss(model: torch.nn.Module, cfg: TrainConfig) -> float:
    """L1 on a fixed batch the run never trains on (step index beyond the run)."""
    inputs, target = training_pair(cfg, make_sampler(cfg), step=10_000)
    with torch.no_grad():
        return torch.nn.functional.l1_loss(model.eval()(inputs), target).item()


@pytest.mark.slow  # minutes of CPU training
def test_loss_drops_and_model_card(tmp_path: Path) -> None:
    cfg = config(100)
    before = held_out_loss(new_state(cfg).model, cfg)  # same seed: the run's initial weights
    result = train(cfg, tmp_path / "run")
    model = load_checkpoint(result)
    after = held_out_loss(model, cfg)
    assert after < 0.8 * before, f"held-out L1 {before:.4f} -> {after:.4f}"
    assert model.card["steps"] == 100 and model.card["sigma_range"] == [0.0, 55.0]
    assert "dead-leaves" in model.card["training_data"]


def test_super_resolution_run(tmp_path: Path) -> None:
    cfg = config(10, task="sr2")
    inputs, target = training_pair(cfg, make_sampler(cfg), step=0)
    assert inputs.shape[-2:] == (16, 16) and target.shape[-2:] == (32, 32)
    model = load_checkpoint(train(cfg, tmp_path / "sr"))
    assert model.config.scale == 2 and model(inputs).shape == target.shape
    assert model.card["task"] == "super-resolution" and model.card["sigma_range"] is None
    with pytest.raises(ConfigError, match="multiple of 16"):
        config(10, task="sr2", crop=40)


@pytest.mark.slow
def test_resume_restores_step_and_optimizer_exactly(tmp_path: Path) -> None:
    cfg = config(20)
    straight = tmp_path / "straight"
    train(cfg, straight, max_steps=12)
    stopped_state = load_state(cfg, straight)
    assert stopped_state.step == 12
    train(cfg, straight, resume=True)
    interrupted = load_state(cfg, straight)
    uninterrupted = tmp_path / "uninterrupted"
    train(cfg, uninterrupted)
    reference = load_state(cfg, uninterrupted)
    assert interrupted.step == reference.step == 20
    for (key, a), b in zip(interrupted.model.state_dict().items(), reference.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=f"parameter {key} differs after resume")
    sa, sb = interrupted.optimizer.state_dict(), reference.optimizer.state_dict()
    for index in sa["state"]:
        for slot in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(sa["state"][index][slot], sb["state"][index][slot])
    with safe_open(str(straight / STATE_FILE), framework="pt") as handle:
        assert handle.metadata()["step"] == "20"


def test_resume_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(config(5), tmp_path / "empty", resume=True)
    train(config(5), tmp_path / "run", max_steps=2)
    with pytest.raises(ConfigError, match="different configuration"):
        train(config(6), tmp_path / "run", resume=True)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(config(5), tmp_path / "run")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        train(config(5), tmp_path / "run", device="cuda")


def _dead_leaves_full_masks(size: int, channels: int, rng: np.random.Generator, discs: int = 300) -> np.ndarray:
    """The textbook construction, one full-canvas mask per disc: the reference for the bounding-box version."""
    canvas = np.empty((size, size, channels), dtype=np.float32)
    canvas[:] = rng.random(channels)
    yy, xx = np.mgrid[0:size, 0:size]
    radii = np.clip((rng.pareto(2.0, discs) + 1) * size / 64, 1, size / 2)
    for radius in np.sort(radii)[::-1]:
        cy, cx = rng.uniform(-radius, size + radius, 2)
        canvas[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = rng.random(channels)
    return canvas


@pytest.mark.parametrize("size", [33, 64, 128])
def test_dead_leaves_paints_what_full_masks_paint(size: int) -> None:
    for seed in range(5):
        fast = dead_leaves(size, 3, np.random.default_rng(seed))
        assert np.array_equal(fast, _dead_leaves_full_masks(size, 3, np.random.default_rng(seed)))
        assert len(np.unique(fast.reshape(-1, 3), axis=0)) > 10, "discs must occlude the background"


def test_schedule_and_degradation() -> None:
    cfg = config(100)
    assert learning_rate(cfg, 0) < learning_rate(cfg, 4) == pytest.approx(cfg.lr)
    assert learning_rate(cfg, 99) < 0.05 * cfg.lr
    clean = torch.full((64, 1, 16, 16), 0.5)
    noisy = add_blind_noise(clean, 55.0, torch.Generator().manual_seed(0))
    sigmas = (noisy - clean).flatten(1).std(1) * 255
    assert sigmas.max() < 60 and sigmas.min() < 10 and (noisy > 1).any(), "noise must not be clipped"


def test_bad_data(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images found"):
        load_folder(tmp_path / "empty", 3)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_text("not an image")
    with pytest.raises(ImageError, match=r"x\.png"):
        load_folder(tmp_path / "bad", 3)
    with pytest.raises(ConfigError, match="max_sigma"):
        config(5, max_sigma=300)
    with pytest.raises(ConfigError, match="larger than"):
        CropSampler((dead_leaves(16, 3, np.random.default_rng(0)),), crop=32, channels=3)


def test_init_fine_tunes_from_a_checkpoint(tmp_path: Path) -> None:
    base = load_checkpoint(train(config(30), tmp_path / "base"))
    cfg = config(5, init=str(tmp_path / "base" / "model.safetensors"), lr=1e-9, warmup=1)
    start = new_state(cfg).model
    for (key, a), b in zip(start.state_dict().items(), base.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=f"{key} was not taken from the --init checkpoint")
    tuned = load_checkpoint(train(cfg, tmp_path / "tuned"))
    assert tuned.card["train_config"]["init"] == cfg.init
    assert [(stage["steps"], stage["lr"]) for stage in tuned.card["stages"]] == [(30, 3e-3), (5, 1e-9)]
    assert "2 stages, 35 steps in all" in tuned.card["training_data"]
    assert str(tmp_path) not in json.dumps(tuned.card["stages"]), "stages name data folders, not local paths"
    legacy_card = {k: v for k, v in tuned.card.items() if k not in ("stages", "degradation")}
    assert with_lineage(legacy_card)["stages"] == tuned.card["stages"], "rebuilt by following train_config.init"
    assert with_lineage(legacy_card)["training_data"] == tuned.card["training_data"]
    other = config(5, init=cfg.init, overrides={**TINY, "dim": 16})
    with pytest.raises(ConfigError, match="--init checkpoint has config"):
        new_state(other)


def test_l2_stage_trains_on_squared_error_and_says_so(tmp_path: Path) -> None:
    base = train(config(30), tmp_path / "base")
    cfg = config(20, init=str(base), loss="l2", lr=1e-3, warmup=1)
    state = new_state(cfg)
    inputs, target = training_pair(cfg, make_sampler(cfg), step=0)
    with torch.no_grad():
        squared = torch.nn.functional.mse_loss(state.model(inputs), target).item()
    assert train_step(state, cfg, inputs, target) == pytest.approx(squared, rel=1e-5), "l2 optimises squared error"
    tuned = load_checkpoint(train(cfg, tmp_path / "l2"))
    assert [stage["loss"] for stage in tuned.card["stages"]] == ["l1", "l2"]
    assert json.loads(cfg.to_json())["loss"] == "l2"
    assert "loss" not in json.loads(config(5).to_json()), "an L1 run's stored config is what it was before"
    with pytest.raises(ConfigError, match="loss must be one of"):
        config(5, loss="huber")
