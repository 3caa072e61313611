"""The channels-last layout torch runs on the CPU changes speed, not results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from effrestore.models import build_model, list_attention, save_checkpoint
from effrestore.models.memory_format import batch_to_fast_layout, fast_memory_format, to_fast_layout


@pytest.mark.parametrize("attention", list_attention())
def test_channels_last_gives_the_default_layouts_outputs_and_gradients(attention: str) -> None:
    torch.manual_seed(0)
    reference = build_model("restormer-xs", attention=attention)
    fast = to_fast_layout(build_model("restormer-xs", attention=attention), "cpu")
    fast.load_state_dict(reference.state_dict())
    batch = torch.rand(1, 3, 32, 48)
    expected = reference(batch)
    expected.square().mean().backward()
    output = fast(batch_to_fast_layout(batch, "cpu"))
    output.square().mean().backward()
    assert output.is_contiguous(memory_format=torch.channels_last)
    scale = expected.abs().max().item()
    assert (output - expected).abs().max().item() <= 1e-4 * scale
    for (name, got), want in zip(fast.named_parameters(), reference.parameters(), strict=True):
        assert (got.grad - want.grad).norm() <= 1e-3 * want.grad.norm() + 1e-8, name


def test_cpu_runs_channels_last_and_cuda_keeps_the_default() -> None:
    assert fast_memory_format("cpu") == torch.channels_last
    assert fast_memory_format("cuda:1") == torch.contiguous_format


def test_torch_backend_runs_channels_last_and_returns_a_plain_array(tmp_path) -> None:
    from effrestore.runtime.backends.pytorch import TorchBackend

    torch.manual_seed(1)
    model = build_model("restormer-xs", attention="glmha").eval()
    save_checkpoint(model, tmp_path / "m.safetensors")
    backend = TorchBackend(tmp_path / "m.safetensors")
    assert backend.model.patch_embed.proj.weight.is_contiguous(memory_format=torch.channels_last)
    image = np.random.default_rng(0).random((1, 3, 40, 56), dtype=np.float32)
    output = backend.run(image)
    assert output.flags["C_CONTIGUOUS"] and output.shape == image.shape
    with torch.inference_mode():
        expected = model(torch.from_numpy(image)).numpy()
    np.testing.assert_allclose(output, expected, atol=1e-5)
