"""Tile layout and feathered blending.

Tiles are a fixed size, placed on a grid aligned to the model's `multiple_of` (so down-sampling grids
match the whole-image run), the last row/column shifted to the image edge (never ragged). A planned grid
shrinks its tiles to the smallest size that still covers the image in as many tiles, so the last tile does
not overlap its neighbour by up to a whole stride of repeated work. Each inner tile
border discards the pixels a finite receptive field could contaminate, then feathers with a raised cosine
over the rest of the overlap; image borders are not feathered. When the overlap covers the receptive
field, the tiled result equals the whole-image result.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from effrestore.errors import ConfigError


def positions(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets along one axis (length and tile are multiples of `multiple`)."""
    if tile >= length:
        return [0]
    stride = (tile - 2 * overlap) // multiple * multiple
    if stride <= 0:
        raise ConfigError(
            f"tile {tile} is too small for overlap {overlap} per side; use a tile of at least "
            f"{2 * overlap + multiple} or a smaller --tile-overlap"
        )
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def fitted_length(length: int, tile: int, overlap: int, multiple: int) -> int:
    """The smallest tile length (a multiple of `multiple`, at most `tile`) that covers `length` in as many
    tiles as `tile` does: as fast or faster (fewer pixels per call) and never more memory."""
    tile = min(tile, length)
    count = len(positions(length, tile, overlap, multiple))
    smallest = 2 * overlap + multiple  # a smaller tile has no stride left
    while tile - multiple >= smallest and len(positions(length, tile - multiple, overlap, multiple)) == count:
        tile -= multiple
    return tile


@functools.lru_cache(maxsize=64)
def feather(length: int, inner_start: bool, inner_end: bool, overlap: int, discard: int) -> np.ndarray:
    """1-D weights of a tile (all in output pixels): 0 over `discard`, raised cosine up to
    `2·overlap − discard`, 1 inside; only inner borders (not image borders) are feathered. Cached: a grid
    has at most three distinct weight profiles per axis."""
    weights = np.ones(length, dtype=np.float32)
    ramp_length = max(0, 2 * overlap - 2 * discard)
    t = np.arange(length, dtype=np.float32)
    ramp = np.where(t < discard, 0.0, 1.0).astype(np.float32)
    if ramp_length:
        inside = (t >= discard) & (t < discard + ramp_length)
        ramp[inside] = 0.5 - 0.5 * np.cos(math.pi * (t[inside] - discard + 0.5) / ramp_length)
    if inner_start:
        weights *= ramp
    if inner_end:
        weights *= ramp[::-1]
    weights.flags.writeable = False
    return weights


@dataclass(frozen=True)
class TileGrid:
    """Tiles over a padded image of `height`×`width` input pixels."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    @classmethod
    def build(
        cls, height: int, width: int, tile: int | None, overlap: int, multiple: int, fitted: bool = False
    ) -> TileGrid:
        """Tiles of `tile` pixels a side (None: the whole image); `fitted` shrinks them per axis to
        `fitted_length` (not for engines that accept only their profiles' sizes)."""
        if tile is None:
            tile_h, tile_w = height, width
        elif fitted:
            tile_h, tile_w = (fitted_length(n, tile, overlap, multiple) for n in (height, width))
        else:
            tile_h, tile_w = min(tile, height), min(tile, width)
        ys = positions(height, tile_h, overlap, multiple)
        xs = positions(width, tile_w, overlap, multiple)
        return cls(height, width, tile_h, tile_w, tuple(ys), tuple(xs))

    @property
    def tiles(self) -> list[tuple[int, int]]:
        return [(y, x) for y in self.ys for x in self.xs]

    def weights(self, y: int, x: int, scale: int, overlap: int, discard: int) -> np.ndarray:
        wy = feather(self.tile_h * scale, y > 0, y + self.tile_h < self.height, overlap * scale, discard * scale)
        wx = feather(self.tile_w * scale, x > 0, x + self.tile_w < self.width, overlap * scale, discard * scale)
        return wy[:, None] * wx[None, :]
