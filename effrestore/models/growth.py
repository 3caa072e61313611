"""Deepening a trained model: a deeper network that starts as the trained one and trains on from there.

Every Transformer block is residual (`x + attn(LN(x))`, `x + GDFN(LN(x))`), so a block whose two output
projections are zero is the identity. A deeper config's extra blocks (appended to each stage) get zero output
projections and the trained blocks keep their weights: the grown model computes exactly what the trained one
did, and training adds what the new blocks can learn (Chen et al., "Net2Net", ICLR 2016). This is how a
model gains depth where CPU training cannot afford to start from scratch.
"""

from __future__ import annotations

import dataclasses

import torch

from effrestore.errors import ConfigError
from effrestore.models.backbones import Restormer, RestormerConfig

# Parameters that end a block's residual branches; SAGAN-style attention ends in `gamma`, zero from the start.
_BRANCH_OUTPUTS = ("attn.project_out.", "ffn.project_out.", "attn.gamma")
_DEPTH_FIELDS = ("num_blocks", "num_refinement_blocks")


def is_deepening(source: RestormerConfig, target: RestormerConfig) -> bool:
    """True when `target` is `source` with the same or more blocks in every stage (and more in one)."""
    same_otherwise = dataclasses.replace(target, **{f: getattr(source, f) for f in _DEPTH_FIELDS}) == source
    deeper = all(t >= s for t, s in zip(_depths(target), _depths(source), strict=True))
    return same_otherwise and deeper and _depths(target) != _depths(source)


def deepen_into(model: Restormer, source: Restormer) -> list[str]:
    """Loads `source`'s weights into the deeper `model` and makes its extra blocks identities; returns the
    names of the extra blocks. The two compute the same function afterwards."""
    if not is_deepening(source.config.network(), model.config.network()):
        raise ConfigError(
            f"cannot grow {source.config} into {model.config}: only num_blocks / num_refinement_blocks may "
            "differ, each the same or larger"
        )
    missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
    if unexpected:
        raise ConfigError(f"the source checkpoint has weights the deeper model lacks: {unexpected[:3]}")
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name in missing:
            if name in parameters and name[len(_block_of(name)) + 1 :].startswith(_BRANCH_OUTPUTS):
                parameters[name].zero_()
    return sorted({_block_of(name) for name in missing})


def _depths(config: RestormerConfig) -> tuple[int, ...]:
    return (*config.num_blocks, config.num_refinement_blocks)


def _block_of(parameter: str) -> str:
    """`encoder_level3.2.ffn.project_out.weight` → `encoder_level3.2`."""
    stage, index, *_ = parameter.split(".")
    return f"{stage}.{index}"
