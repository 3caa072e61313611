"""Restormer-style 4-level U-Net (Zamir et al., CVPR 2022) with a pluggable attention family per level.

With `attention="mdta"` and the official config the `state_dict()` equals the official Restormer's (names
and shapes), so released checkpoints load with `strict=True`. `scale` 2 or 4 adds a PixelShuffle tail
(super-resolution); the global residual is then the bilinearly upsampled input. `opponent_color` runs a
single-channel network on each plane of an RGB image's opponent colour transform (`effrestore.models.color`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from effrestore import __version__
from effrestore.errors import ConfigError
from effrestore.metadata import ModelMeta
from effrestore.models.attention import ATTENTION
from effrestore.models.color import from_opponent, to_opponent
from effrestore.models.layers import Downsample, LayerNormType, OverlapPatchEmbed, TransformerBlock, Upsample

LEVELS = 4
MULTIPLE_OF = 2 ** (LEVELS - 1)
INT_RANGES = {  # far beyond any published config; a file asking for more is forged or broken
    "dim": (2, 1024),
    "num_blocks": (0, 64),
    "num_refinement_blocks": (0, 64),
    "heads": (1, 64),
    "in_channels": (1, 3),
    "out_channels": (1, 3),
    "scale": (1, 4),
}


@dataclass(frozen=True)
class RestormerConfig:
    """Hyper-parameters of the backbone. `attention` is one kind for every level or one per level
    (the refinement stage uses level 1's). `bias` applies to the backbone's convolutions; the attention
    projections are bias-free, as in the released Restormer configs."""

    dim: int = 48
    num_blocks: tuple[int, int, int, int] = (4, 6, 6, 8)
    num_refinement_blocks: int = 4
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    attention: str | tuple[str, str, str, str] = "mdta"
    in_channels: int = 3
    out_channels: int = 3
    scale: int = 1
    ffn_expansion_factor: float = 2.66
    layernorm: LayerNormType = "WithBias"
    bias: bool = False
    opponent_color: bool = False

    def __post_init__(self) -> None:
        self._check_types_and_sizes()
        for name in ("num_blocks", "heads"):
            value = tuple(getattr(self, name))
            if len(value) != LEVELS or any(v < 0 for v in value):
                raise ConfigError(f"{name} must be {LEVELS} non-negative integers, got {value}")
            object.__setattr__(self, name, value)
        if isinstance(self.attention, (list, tuple)):
            object.__setattr__(self, "attention", tuple(self.attention))
        kinds = self.attention_per_level
        if len(kinds) != LEVELS:
            raise ConfigError(f"attention must be one kind or {LEVELS} kinds (one per level), got {kinds}")
        unknown = sorted(set(kinds) - set(ATTENTION))
        if unknown:
            raise ConfigError(f"unknown attention kind(s) {unknown}; choose from {sorted(ATTENTION)}")
        if self.scale not in (1, 2, 4):
            raise ConfigError(f"scale must be 1, 2 or 4, got {self.scale}")
        if self.layernorm not in ("WithBias", "BiasFree"):
            raise ConfigError(f"layernorm must be 'WithBias' or 'BiasFree', got {self.layernorm!r}")
        if self.dim < 2 or self.dim % 2 or self.in_channels < 1 or self.out_channels < 1:
            raise ConfigError("dim must be an even integer >= 2 and channel counts >= 1")
        if self.opponent_color and (self.in_channels, self.out_channels) != (3, 3):
            raise ConfigError("opponent_color restores RGB images: it needs in_channels = out_channels = 3")
        for level, heads in enumerate(self.heads):
            if heads < 1 or self.level_dim(level) % heads:
                raise ConfigError(
                    f"level {level + 1}: {self.level_dim(level)} channels are not divisible by {heads} heads"
                )

    def _check_types_and_sizes(self) -> None:
        """Types and sane sizes first: a config read from a file must not reach a comparison that raises
        TypeError, or ask for a network of a billion blocks."""
        for name, (low, high) in INT_RANGES.items():
            value = getattr(self, name)
            values = value if name in ("num_blocks", "heads") and isinstance(value, (list, tuple)) else [value]
            if name in ("num_blocks", "heads") and not isinstance(value, (list, tuple)):
                raise ConfigError(f"{name} must be a list of {LEVELS} integers, got {value!r}")
            if not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values):
                raise ConfigError(f"{name} must be integers from {low} to {high}, got {value!r}")
        factor = self.ffn_expansion_factor
        if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and 0 < factor <= 16):
            raise ConfigError(f"ffn_expansion_factor must be a number in (0, 16], got {factor!r}")
        if int(self.dim * factor) < 1:
            raise ConfigError(f"ffn_expansion_factor {factor} leaves the feed-forward layers no channels")
        for name in ("bias", "opponent_color"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        kinds = self.attention if isinstance(self.attention, (list, tuple)) else [self.attention]
        if not all(isinstance(kind, str) for kind in kinds) or not isinstance(self.layernorm, str):
            raise ConfigError(f"attention and layernorm must be names, got {self.attention!r}, {self.layernorm!r}")

    @property
    def attention_per_level(self) -> tuple[str, ...]:
        return (self.attention,) * LEVELS if isinstance(self.attention, str) else tuple(self.attention)

    @property
    def network_channels(self) -> tuple[int, int]:
        """(in, out) channels of the network's own weights: one each per opponent plane."""
        return (1, 1) if self.opponent_color else (self.in_channels, self.out_channels)

    def network(self) -> RestormerConfig:
        """The config whose weights this one's are: a grayscale model for an `opponent_color` one."""
        network_in, network_out = self.network_channels
        return dataclasses.replace(self, in_channels=network_in, out_channels=network_out, opponent_color=False)

    def level_dim(self, level: int) -> int:
        """Channels at level 0..3 (level 0 decoder/refinement use twice this, see `Restormer`)."""
        return self.dim * 2**level

    def receptive_field(self) -> int | None:
        """Receptive-field radius in input pixels, or None when any attention level is global.

        Counts each 3×3 conv (and each pixel (un)shuffle) as one pixel at its level's resolution; an
        upper bound, so an overlap at least this large makes tiles agree with the whole image."""
        if any(kind != "none" for kind in self.attention_per_level):
            return None
        n = self.num_blocks
        radius = 1 + (2 * n[0] + self.num_refinement_blocks) + 1  # patch_embed, level-1 stages, output
        for level in range(1, LEVELS):
            step = 2**level  # one pixel at this level spans `step` input pixels
            radius += 3 * step  # down conv + unshuffle at the finer level, up conv + shuffle here
            radius += n[level] * step * (2 if level < LEVELS - 1 else 1)  # encoder + decoder (latent once)
        return radius

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _stage(dim: int, count: int, heads: int, attention: str, config: RestormerConfig) -> nn.Sequential:
    return nn.Sequential(
        *(
            TransformerBlock(dim, heads, attention, config.ffn_expansion_factor, config.bias, config.layernorm)
            for _ in range(count)
        )
    )


class Restormer(nn.Module):
    """Maps B×in_channels×H×W in [0, 1] to B×out_channels×(scale·H)×(scale·W); H, W multiples of 8."""

    def __init__(self, config: RestormerConfig | None = None, *, name: str = "", card: dict | None = None) -> None:
        super().__init__()
        self.config = config or RestormerConfig()
        self.name = name
        self.card: dict = dict(card or {})  # model card: task, training data, validation numbers...
        c = self.config
        kinds, n, h = c.attention_per_level, c.num_blocks, c.heads
        network_in, network_out = c.network_channels
        self.patch_embed = OverlapPatchEmbed(network_in, c.dim, c.bias)
        self.encoder_level1 = _stage(c.level_dim(0), n[0], h[0], kinds[0], c)
        self.down1_2 = Downsample(c.level_dim(0))
        self.encoder_level2 = _stage(c.level_dim(1), n[1], h[1], kinds[1], c)
        self.down2_3 = Downsample(c.level_dim(1))
        self.encoder_level3 = _stage(c.level_dim(2), n[2], h[2], kinds[2], c)
        self.down3_4 = Downsample(c.level_dim(2))
        self.latent = _stage(c.level_dim(3), n[3], h[3], kinds[3], c)
        self.up4_3 = Upsample(c.level_dim(3))
        self.reduce_chan_level3 = nn.Conv2d(c.level_dim(3), c.level_dim(2), 1, bias=c.bias)
        self.decoder_level3 = _stage(c.level_dim(2), n[2], h[2], kinds[2], c)
        self.up3_2 = Upsample(c.level_dim(2))
        self.reduce_chan_level2 = nn.Conv2d(c.level_dim(2), c.level_dim(1), 1, bias=c.bias)
        self.decoder_level2 = _stage(c.level_dim(1), n[1], h[1], kinds[1], c)
        self.up2_1 = Upsample(c.level_dim(1))
        self.decoder_level1 = _stage(c.level_dim(1), n[0], h[0], kinds[0], c)
        self.refinement = _stage(c.level_dim(1), c.num_refinement_blocks, h[0], kinds[0], c)
        self.output = nn.Conv2d(c.level_dim(1), network_out * c.scale**2, 3, padding=1, bias=c.bias)
        self.upscale = nn.PixelShuffle(c.scale) if c.scale > 1 else nn.Identity()

    @property
    def meta(self) -> ModelMeta:
        c = self.config
        rf = c.receptive_field()
        overlap = -(-rf // MULTIPLE_OF) * MULTIPLE_OF if rf is not None else 32
        return ModelMeta(
            task=self.card.get("task", "denoise" if c.scale == 1 else "super-resolution"),
            scale=c.scale,
            in_channels=c.in_channels,
            out_channels=c.out_channels,
            multiple_of=MULTIPLE_OF,
            overlap=overlap,
            receptive_field=rf,
            attention=c.attention_per_level,
            tiling="supported" if rf is not None else "discouraged",
            training_data=self.card.get("training_data", ""),
            name=self.name,
            version=__version__,
            bf16_psnr_delta=self.card.get("bf16_psnr_delta"),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if not self.config.opponent_color:
            return self._restore(image)
        height, width = image.shape[-2:]
        planes = self._restore(to_opponent(image).reshape(-1, 1, height, width))
        return from_opponent(planes.reshape(-1, 3, *planes.shape[-2:]))

    def _restore(self, image: torch.Tensor) -> torch.Tensor:
        enc1 = self.encoder_level1(self.patch_embed(image))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        latent = self.latent(self.down3_4(enc3))
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], 1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec1 = self.refinement(self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1)))
        out = self.upscale(self.output(dec1))
        network_in, network_out = self.config.network_channels
        if network_in != network_out:
            return out
        if self.config.scale == 1:
            return out + image
        return out + F.interpolate(image, scale_factor=self.config.scale, mode="bilinear", align_corners=False)
