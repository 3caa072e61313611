"""Band blending: the feathered tiles of one tile row are summed into an accumulator one tile high, and the
output rows that no later tile touches are handed on, so blending holds one band, not the whole image."""

from __future__ import annotations

import numpy as np

from effrestore.runtime.tiling import TileGrid


class BandBlender:
    """Blends tiles given row by row (all tiles of a tile row, then the next), in output pixels."""

    def __init__(self, grid: TileGrid, scale: int, channels: int, overlap: int, discard: int) -> None:
        self.grid, self.scale, self.overlap, self.discard = grid, scale, overlap, discard
        self._sum = np.zeros((grid.tile_h * scale, grid.width * scale, channels), np.float32)
        self._weight = np.zeros((grid.tile_h * scale, grid.width * scale, 1), np.float32)
        self._top = 0  # input row of the accumulator's first row

    def add(self, y: int, x: int, tile: np.ndarray) -> None:
        """Adds one C×h×w tile output whose input tile starts at (y, x); `y` is the current tile row's."""
        s = self.scale
        weight = self.grid.weights(y, x, s, self.overlap, self.discard)[..., None]
        columns = slice(x * s, (x + self.grid.tile_w) * s)
        self._sum[:, columns] += tile.transpose(1, 2, 0) * weight
        self._weight[:, columns] += weight

    def finish_row(self, next_y: int | None) -> np.ndarray:
        """Ends the tile row: returns its final output rows (those above the next tile row at input row
        `next_y`, or all with None), blended, and moves the accumulator down to `next_y`."""
        done = self._sum.shape[0] if next_y is None else (next_y - self._top) * self.scale
        rows = self._sum[:done] / self._weight[:done]
        for plane in (self._sum, self._weight):
            plane[: plane.shape[0] - done] = plane[done:]
            plane[plane.shape[0] - done :] = 0
        if next_y is not None:
            self._top = next_y
        return rows
