"""A tiny denoising run on random crops of a real photo lowers the loss for every attention kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from effrestore.models import ATTENTION, build_model

STEPS, CROP, BATCH, SIGMA = 200, 32, 4, 25 / 255


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(ATTENTION))
def test_denoising_loss_drops(kind: str, sample_rgb: np.ndarray) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    image = torch.from_numpy(sample_rgb).permute(2, 0, 1)
    model = build_model(
        "restormer-xs",
        dim=8,
        num_blocks=(1, 1, 1, 1),
        num_refinement_blocks=0,
        heads=(1, 1, 1, 1),
        attention=kind,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(STEPS):
        tops = rng.integers(0, image.shape[1] - CROP, BATCH)
        lefts = rng.integers(0, image.shape[2] - CROP, BATCH)
        clean = torch.stack([image[:, t : t + CROP, s : s + CROP] for t, s in zip(tops, lefts, strict=True)])
        noisy = clean + SIGMA * torch.randn_like(clean)
        loss = (model(noisy) - clean).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = np.mean(losses[:20]), np.mean(losses[-20:])
    assert last < 0.8 * first, f"{kind}: loss {first:.4f} -> {last:.4f}"
