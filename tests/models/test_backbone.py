"""Restormer backbone: official key names/shapes, parameter counts, configs, scale heads."""

from __future__ import annotations

import pytest
import torch

from effrestore.errors import ConfigError
from effrestore.models import build_model, count_params, list_models

DIM, BLOCKS, REFINE, HEADS = 48, (4, 6, 6, 8), 4, (1, 2, 4, 8)


def official_shapes(with_bias: bool) -> dict[str, tuple[int, ...]]:
    """The official Restormer state dict (DESIGN 3.7), written out from the published layout."""
    shapes: dict[str, tuple[int, ...]] = {}
    hidden = {c: int(c * 2.66) for c in (48, 96, 192, 384)}
    stages = [
        ("encoder_level1", 48, BLOCKS[0], 1),
        ("encoder_level2", 96, BLOCKS[1], 2),
        ("encoder_level3", 192, BLOCKS[2], 4),
        ("latent", 384, BLOCKS[3], 8),
        ("decoder_level3", 192, BLOCKS[2], 4),
        ("decoder_level2", 96, BLOCKS[1], 2),
        ("decoder_level1", 96, BLOCKS[0], 1),
        ("refinement", 96, REFINE, 1),
    ]
    for container, c, count, h in stages:
        hid = int(c * 2.66) if c not in hidden else hidden[c]
        for i in range(count):
            t = f"{container}.{i}"
            for norm in ("norm1", "norm2"):
                shapes[f"{t}.{norm}.body.weight"] = (c,)
                if with_bias:
                    shapes[f"{t}.{norm}.body.bias"] = (c,)
            shapes[f"{t}.attn.temperature"] = (h, 1, 1)
            shapes[f"{t}.attn.qkv.weight"] = (3 * c, c, 1, 1)
            shapes[f"{t}.attn.qkv_dwconv.weight"] = (3 * c, 1, 3, 3)
            shapes[f"{t}.attn.project_out.weight"] = (c, c, 1, 1)
            shapes[f"{t}.ffn.project_in.weight"] = (2 * hid, c, 1, 1)
            shapes[f"{t}.ffn.dwconv.weight"] = (2 * hid, 1, 3, 3)
            shapes[f"{t}.ffn.project_out.weight"] = (c, hid, 1, 1)
    shapes.update(
        {
            "patch_embed.proj.weight": (48, 3, 3, 3),
            "down1_2.body.0.weight": (24, 48, 3, 3),
            "down2_3.body.0.weight": (48, 96, 3, 3),
            "down3_4.body.0.weight": (96, 192, 3, 3),
            "up4_3.body.0.weight": (768, 384, 3, 3),
            "reduce_chan_level3.weight": (192, 384, 1, 1),
            "up3_2.body.0.weight": (384, 192, 3, 3),
            "reduce_chan_level2.weight": (96, 192, 1, 1),
            "up2_1.body.0.weight": (192, 96, 3, 3),
            "output.weight": (3, 96, 3, 3),
        }
    )
    return shapes


@pytest.mark.parametrize(("layernorm", "millions"), [("WithBias", 26.127), ("BiasFree", 26.112)])
def test_official_state_dict_and_param_count(layernorm: str, millions: float) -> None:
    model = build_model("restormer", layernorm=layernorm)
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert actual == official_shapes(with_bias=layernorm == "WithBias")
    assert abs(count_params(model) / 1e6 - millions) <= 0.001


def test_registered_configs() -> None:
    assert {"restormer", "restormer-s", "restormer-xs"} <= set(list_models())


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_scale_and_channels(scale: int) -> None:
    model = build_model("restormer-xs", scale=scale, in_channels=1, out_channels=1, attention="glmha")
    y = model(torch.rand(2, 1, 16, 24))
    assert y.shape == (2, 1, 16 * scale, 24 * scale)
    assert model.meta.scale == scale and model.meta.in_channels == 1


def test_attention_per_level_and_metadata() -> None:
    model = build_model("restormer-xs", attention=("mdta", "glmha", "gsa", "stt"))
    assert model.encoder_level1[0].attn.kind == "mdta"
    assert model.latent[0].attn.kind == "stt"
    assert model.refinement[0].attn.kind == "mdta"
    meta = model.meta
    assert meta.attention == ("mdta", "glmha", "gsa", "stt")
    assert meta.multiple_of == 8 and meta.tiling == "discouraged" and meta.receptive_field is None


def test_pure_convolution_receptive_field_is_an_upper_bound() -> None:
    torch.manual_seed(0)
    model = build_model("restormer-xs", attention="none").eval()
    radius = model.meta.receptive_field
    assert radius is not None and model.meta.tiling == "supported"
    assert model.meta.overlap >= radius and model.meta.overlap % 8 == 0
    side = -(-(2 * radius + 64) // 8) * 8
    x = torch.rand(1, 3, side, side, requires_grad=True)
    model(x)[0, :, side // 2, side // 2].sum().backward()
    rows, cols = x.grad[0].abs().sum(0).nonzero(as_tuple=True)
    reach = max((rows - side // 2).abs().max().item(), (cols - side // 2).abs().max().item())
    assert 0 < reach <= radius


def test_bad_overrides_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown override"):
        build_model("restormer-xs", dimm=8)
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("restormer-xxl")
    with pytest.raises(ConfigError, match="scale must be"):
        build_model("restormer-xs", scale=3)
    with pytest.raises(ConfigError, match="not divisible"):
        build_model("restormer-xs", heads=(1, 2, 4, 5))
