"""Tiling: a model without global operations gives the same result tiled as whole; global models are
reported (PSNR gap)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from effrestore.export import compare
from effrestore.runtime import Restorer
from effrestore.runtime.tiling import TileGrid, fitted_length, positions


def image(height: int, width: int, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(height * width).random((height, width, channels), dtype=np.float32)


@pytest.mark.parametrize("model", ["conv", "conv-x2"])
@pytest.mark.parametrize(("tile", "extra_overlap"), [(96, 0), (128, 8), (160, 16)])
@pytest.mark.parametrize("size", [(203, 317), (96, 250)])
def test_tiled_equals_whole_for_finite_receptive_field(
    models_dir: Path, model: str, tile: int, extra_overlap: int, size: tuple[int, int]
) -> None:
    whole = Restorer.load(models_dir / f"{model}.onnx", tile="none", mem_budget="8GiB")
    overlap = whole.meta.overlap + extra_overlap
    tiled = Restorer.load(models_dir / f"{model}.onnx", tile=max(tile, 2 * overlap + 8), tile_overlap=overlap)
    x = image(*size)
    expected, result = whole.restore(x), tiled.restore(x)
    assert tiled.last_stats.tiles > 1
    assert result.shape == expected.shape == (size[0] * whole.meta.scale, size[1] * whole.meta.scale, 3)
    assert np.abs(result - expected).max() <= 1e-5


def test_global_attention_gap_is_recorded(models_dir: Path) -> None:
    x = image(256, 256)
    whole = Restorer.load(models_dir / "glmha.onnx", tile="none", mem_budget="8GiB").restore(x)
    tiled_restorer = Restorer.load(models_dir / "glmha.onnx", tile=128, tile_overlap=32)
    tiled = tiled_restorer.restore(x)
    gap = compare("tiled vs whole", whole, tiled)
    print(f"glmha: {tiled_restorer.last_stats.tiles} tiles of 128, overlap 32: {gap}")
    assert gap.psnr_db > 25, "tiling a global model should change the result only mildly"


def test_grid_is_aligned_and_reaches_the_edge() -> None:
    assert positions(200, 64, 8, 8) == [0, 48, 96, 136]
    grid = TileGrid.build(200, 64, 64, 8, 8)
    assert grid.xs == (0,) and all(y % 8 == 0 for y in grid.ys) and grid.ys[-1] + 64 == 200


@pytest.mark.parametrize("length", [200, 1080, 1856, 2160, 2784, 3840, 4320])
@pytest.mark.parametrize(("tile", "overlap", "multiple"), [(512, 32, 8), (384, 32, 8), (256, 16, 16), (96, 8, 4)])
def test_fitted_tiles_cover_the_image_in_as_many_tiles_with_the_least_work(
    length: int, tile: int, overlap: int, multiple: int
) -> None:
    length = -(-length // multiple) * multiple  # images are padded to the model's multiple first
    fitted = fitted_length(length, tile, overlap, multiple)
    starts = positions(length, fitted, overlap, multiple)
    assert fitted <= min(tile, length) and fitted % multiple == 0
    assert len(starts) == len(positions(length, min(tile, length), overlap, multiple))
    assert starts[0] == 0 and starts[-1] + fitted == length and all(s % multiple == 0 for s in starts)
    assert all(b - a <= fitted - 2 * overlap for a, b in itertools.pairwise(starts))  # seams keep the overlap
    smaller = fitted - multiple
    assert smaller < 2 * overlap + multiple or len(positions(length, smaller, overlap, multiple)) > len(starts)


def test_a_fitted_grid_drops_the_last_tiles_repeated_work() -> None:
    """A 2784×1856 photo in 512² tiles (overlap 32): the seventh column started 32 px after the sixth."""
    plain = TileGrid.build(1856, 2784, 512, 32, 8)
    fitted = TileGrid.build(1856, 2784, 512, 32, 8, fitted=True)
    assert len(fitted.tiles) == len(plain.tiles) == 28
    assert (fitted.tile_h, fitted.tile_w) == (512, 456)
    assert plain.xs[-1] - plain.xs[-2] == 32
    assert len(fitted.tiles) * fitted.tile_h * fitted.tile_w < 0.9 * len(plain.tiles) * 512 * 512
