"""Opponent colour: a single-channel network restoring RGB one decorrelated plane at a time."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from effrestore.errors import ConfigError
from effrestore.export import export_onnx
from effrestore.models import build_model, load_checkpoint, save_checkpoint
from effrestore.models.color import from_opponent, to_opponent
from effrestore.models.training import TrainConfig, new_state

TINY = {"dim": 8, "num_blocks": (1, 1, 1, 1), "num_refinement_blocks": 0, "heads": (1, 1, 1, 1), "attention": "glmha"}


def gray_and_color() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    gray = build_model("restormer-xs", **TINY, in_channels=1, out_channels=1).eval()
    color = build_model("restormer-xs", **TINY, opponent_color=True).eval()
    color.load_state_dict(gray.state_dict())
    return gray, color


def test_transform_is_invertible_and_keeps_noise_white() -> None:
    rgb = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    planes = to_opponent(rgb)
    assert planes.min() >= 0 and planes.max() <= 1
    torch.testing.assert_close(from_opponent(planes), rgb)
    noise = 0.1 * torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    planes_noise = to_opponent(noise) - to_opponent(torch.zeros_like(noise))
    flat = planes_noise.reshape(3, -1)
    correlation = torch.corrcoef(flat)
    assert (correlation - torch.eye(3, dtype=torch.float64)).abs().max() < 0.01, "noise stays uncorrelated"
    spans = (math.sqrt(3), math.sqrt(2), 4 / math.sqrt(6))  # each plane's range, scaled into [0, 1]
    for plane, span in zip(flat, spans, strict=True):
        assert plane.std().item() == pytest.approx(0.1 / span, rel=0.01)


def test_color_model_is_the_gray_network_on_each_plane() -> None:
    gray, color = gray_and_color()
    rgb = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        planes = to_opponent(rgb)
        expected = from_opponent(torch.cat([gray(planes[:, i : i + 1]) for i in range(3)], 1))
        torch.testing.assert_close(color(rgb), expected, atol=1e-5, rtol=1e-5)
    assert color.meta.in_channels == color.meta.out_channels == 3


def test_needs_rgb() -> None:
    with pytest.raises(ConfigError, match="in_channels = out_channels = 3"):
        build_model("restormer-xs", **TINY, in_channels=1, out_channels=1, opponent_color=True)


@pytest.mark.slow  # exports and reloads a model (~35 s)
def test_checkpoint_and_onnx_keep_the_mode(tmp_path: Path) -> None:
    _, color = gray_and_color()
    loaded = load_checkpoint(save_checkpoint(color, tmp_path / "c.safetensors"))
    assert loaded.config.opponent_color
    export_onnx(loaded, tmp_path / "c.onnx")  # verifies ORT against torch before writing
    graph = onnx.load(tmp_path / "c.onnx").graph
    assert graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3
    rgb = np.random.default_rng(0).random((2, 3, 40, 56), dtype=np.float32)
    (out,) = ort.InferenceSession(tmp_path / "c.onnx", providers=["CPUExecutionProvider"]).run(None, {"input": rgb})
    with torch.no_grad():
        np.testing.assert_allclose(out, loaded(torch.from_numpy(rgb)).numpy(), atol=1e-4)


def run_from(init: Path) -> TrainConfig:
    overrides = {**TINY, "opponent_color": True}
    return TrainConfig(model="restormer-xs", overrides=overrides, synthetic_fraction=1.0, init=str(init))


def test_training_starts_from_a_gray_checkpoint(tmp_path: Path) -> None:
    gray, _ = gray_and_color()
    gray_path = save_checkpoint(gray, tmp_path / "gray.safetensors")
    state = new_state(run_from(gray_path))
    for name, tensor in gray.state_dict().items():
        torch.testing.assert_close(state.model.state_dict()[name], tensor)
    torch.manual_seed(1)
    other = build_model("restormer-xs", **{**TINY, "dim": 16}, in_channels=1, out_channels=1)
    other_path = save_checkpoint(other, tmp_path / "other.safetensors")
    with pytest.raises(ConfigError, match="--init checkpoint has config"):
        new_state(run_from(other_path))
