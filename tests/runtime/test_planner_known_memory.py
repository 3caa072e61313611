"""Backends that know their memory ahead of time (a TensorRT engine's manifest) and accept only some tile
sizes: the planner uses those numbers instead of probing, and tiles only with those sizes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from effrestore.errors import MemoryBudgetError
from effrestore.runtime import Restorer
from effrestore.runtime.backends.onnxruntime import OnnxRuntimeBackend
from effrestore.runtime.memory import current_rss

MiB = 2**20


class ProfiledBackend(OnnxRuntimeBackend):
    """ONNX Runtime doing the work, with an engine-like contract: two tile sizes and their memory."""

    def tile_sizes(self) -> tuple[int, ...]:
        return (64, 128)

    def known_memory(self) -> list[tuple[int, int]]:
        return [(64 * 64, 20 * MiB), (128 * 128, 200 * MiB)]

    def max_batch(self) -> int:
        return 1  # profiles built for one tile per call

    def _run(self, batch: np.ndarray) -> np.ndarray:
        assert batch.shape[0] == 1 and batch.shape[2] == batch.shape[3] in (64, 128), batch.shape
        return super()._run(batch)


def restorer(models_dir: Path, budget: int) -> Restorer:
    backend = ProfiledBackend(models_dir / "conv.onnx")
    return Restorer(backend, mem_budget=budget, tile="auto", tile_overlap=8, threads=None)


def test_tiles_come_from_the_profiles(models_dir: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (300, 260, 3), dtype=np.uint8)
    roomy = restorer(models_dir, current_rss() + 2000 * MiB)
    roomy.restore(image)
    assert roomy.last_stats.tile == 128 and roomy.last_stats.batch == 1  # type: ignore[union-attr]
    # 200 MiB of known device memory for 128² does not fit; 64² (20 MiB) does
    tight = restorer(models_dir, current_rss() + 150 * MiB)
    tight.restore(image)
    assert tight.last_stats.tile == 64  # type: ignore[union-attr]
    with pytest.raises(MemoryBudgetError, match="a budget that works") as refused:
        restorer(models_dir, current_rss() + 10 * MiB).restore(image)
    need, advice = re.search(r"need about (\S+ \S+) .* is about (\S+ \S+)$", str(refused.value)).groups()  # type: ignore[union-attr]
    assert need == advice, "known memory is the same on every run: the advice needs no re-measuring margin"
