"""Deepening a trained model: the grown network starts as the trained one, then its new blocks learn."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from effrestore.errors import ConfigError
from effrestore.models.attention import list_attention
from effrestore.models.checkpoints import load_checkpoint
from effrestore.models.growth import deepen_into, is_deepening
from effrestore.models.registry import build_model, model_config
from effrestore.models.training import new_state, train
from tests.models.test_training import TINY, config

SHALLOW = TINY  # one block per level, no refinement stage
DEEP = {**TINY, "num_blocks": (1, 1, 2, 3), "num_refinement_blocks": 1}


def trained_like(attention: str, **overrides: object) -> torch.nn.Module:
    """Random weights with every output projection non-zero, as after training (fresh SAGAN gammas are 0)."""
    torch.manual_seed(0)
    model = build_model("restormer-xs", **{**SHALLOW, "attention": attention, **overrides})
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.endswith("gamma"):
                tensor.fill_(0.5)
    return model.eval()


@pytest.mark.parametrize("attention", [a for a in list_attention() if a != "none"] + ["none"])
def test_grown_model_computes_what_the_trained_one_did(attention: str) -> None:
    source = trained_like(attention)
    grown = build_model("restormer-xs", **{**DEEP, "attention": attention}).eval()
    new_blocks = deepen_into(grown, source)
    assert new_blocks == ["decoder_level3.1", "encoder_level3.1", "latent.1", "latent.2", "refinement.0"]
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(grown(image), source(image), rtol=0, atol=1e-6)
    kept = dict(source.named_parameters())
    for name, tensor in grown.named_parameters():
        if name in kept:
            assert torch.equal(tensor, kept[name]), f"{name} lost its trained weights"


def test_only_deeper_configs_grow() -> None:
    shallow = model_config("restormer-xs", **SHALLOW)
    assert is_deepening(shallow, model_config("restormer-xs", **DEEP))
    assert not is_deepening(shallow, shallow), "the same depth is a plain load, not growth"
    assert not is_deepening(model_config("restormer-xs", **DEEP), shallow), "fewer blocks would drop weights"
    assert not is_deepening(shallow, model_config("restormer-xs", **{**DEEP, "dim": 16})), "wider is not deeper"
    with pytest.raises(ConfigError, match="only num_blocks / num_refinement_blocks may differ"):
        deepen_into(build_model("restormer-xs", **{**DEEP, "dim": 16}), trained_like("glmha"))


def test_init_from_a_shallower_checkpoint_trains_the_new_blocks(tmp_path: Path) -> None:
    base = train(config(20, overrides=SHALLOW), tmp_path / "base")
    deeper = config(10, overrides=DEEP, init=str(base), warmup=1)
    start = new_state(deeper).model
    assert all(
        not tensor.any() for name, tensor in start.named_parameters() if name.startswith("latent.2.ffn.project_out")
    )
    grown = train(deeper, tmp_path / "deep")
    trained = load_checkpoint(grown)
    assert trained.config.num_blocks == (1, 1, 2, 3)
    assert trained.state_dict()["latent.2.ffn.project_out.weight"].abs().sum() > 0, "the new block never learnt"
    assert [stage["steps"] for stage in trained.card["stages"]] == [20, 10]
