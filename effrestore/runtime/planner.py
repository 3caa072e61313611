"""The memory planner: measures the backend's peak at probe tile sizes, fits memory(pixels), caches the
fit per (model hash, backend, device, threads), and picks the largest tile and batch under a budget."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from effrestore.errors import MemoryBudgetError
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.memory import MemoryFit, PeakTracker, current_rss, format_bytes

PROBE_SIDES = (64, 128, 192, 256)
TILE_LADDER = (64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048, 3072, 4096)
SAFETY = 1.3  # planned peaks carry a 30% margin over the fitted prediction (ORT peaks jump by size)
CACHE_VERSION = 2


def cache_file() -> Path:
    return Path(platformdirs.user_cache_dir("effrestore")) / "memory-fits.json"


def _cache_key(backend: Backend, threads: int | None) -> str:
    return f"v{CACHE_VERSION}:{backend.model_id}:{backend.name}:{backend.device}:{threads or 0}"


_cache_lock = threading.Lock()


def measure_fit(backend: Backend, threads: int | None, use_cache: bool = True) -> MemoryFit:
    """The cached fit for this backend, or a new one measured now (and cached)."""
    key = _cache_key(backend, threads)
    path = cache_file()
    with _cache_lock:
        cached: dict = {}
        if use_cache and path.is_file():
            try:
                cached = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                cached = {}
            if key in cached:
                entry = cached[key]
                return MemoryFit(entry["fixed"], entry["per_pixel"], tuple(map(tuple, entry["probes"])))
        tracker = PeakTracker()
        probes = []
        channels = backend.meta.in_channels
        backend.run(np.zeros((1, channels, 64, 64), np.float32))  # warm-up: lazy allocations are not tile cost
        for side in PROBE_SIDES:
            tile = np.random.default_rng(side).random((1, channels, side, side), dtype=np.float32)
            before = current_rss()
            tracker.reset()
            backend.run(tile)
            probes.append((side * side, max(0, tracker.peak() - before)))
        fit = MemoryFit.from_probes(probes)
        if use_cache:
            cached[key] = {
                "fixed": fit.fixed,
                "per_pixel": fit.per_pixel,
                "probes": [list(p) for p in probes],
            }
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(cached, indent=1))
            except OSError:
                pass  # an unwritable cache only costs a re-measurement next time
        return fit


@dataclass(frozen=True)
class Plan:
    """A tile size (None: whole image), tiles per batch and the predicted process peak in bytes."""

    tile: int | None
    batch: int
    planned_peak: int


def image_buffers(height: int, width: int, channels: int, out_channels: int, scale: int, itemsize: int) -> int:
    """Bytes held for the whole image: padded input and output in storage dtype, float32 blend buffers."""
    out_pixels = height * width * scale * scale
    return height * width * channels * itemsize + out_pixels * (out_channels * itemsize + 4 * (out_channels + 1))


def plan(
    fit: MemoryFit,
    padded_h: int,
    padded_w: int,
    buffers: int,
    budget: int,
    tile: int | str,
    baseline: int | None = None,
) -> Plan:
    """Largest tile (then batch) whose predicted peak fits `budget`; `tile` is "auto", "none" or a size."""
    base = current_rss() if baseline is None else baseline

    def peak(side_h: int, side_w: int, batch: int) -> int:
        return int(base + buffers + SAFETY * fit.predict(side_h * side_w * batch))

    if tile == "none":
        chosen = Plan(None, 1, peak(padded_h, padded_w, 1))
        if chosen.planned_peak > budget:
            raise MemoryBudgetError(
                f"the whole image needs about {format_bytes(chosen.planned_peak)}, over the budget of "
                f"{format_bytes(budget)}; use --tile auto to tile it"
            )
        return chosen
    if isinstance(tile, int):
        chosen = Plan(tile, 1, peak(min(tile, padded_h), min(tile, padded_w), 1))
        if chosen.planned_peak > budget:
            raise MemoryBudgetError(
                f"tile {tile} needs about {format_bytes(chosen.planned_peak)}, over the "
                f"budget of {format_bytes(budget)}; use a smaller tile or --tile auto"
            )
        return chosen
    sides = [s for s in TILE_LADDER if s < max(padded_h, padded_w)]
    candidates = [Plan(s, 1, peak(min(s, padded_h), min(s, padded_w), 1)) for s in sides]
    candidates.append(Plan(None, 1, peak(padded_h, padded_w, 1)))
    fitting = [c for c in candidates if c.planned_peak <= budget]
    if not fitting:
        smallest = candidates[0].planned_peak
        raise MemoryBudgetError(
            f"the budget {format_bytes(budget)} cannot be met: even {TILE_LADDER[0]}px tiles need about "
            f"{format_bytes(smallest)} (image buffers {format_bytes(buffers)}, process {format_bytes(base)}); "
            f"the smallest budget that works is about {format_bytes(smallest)}"
        )
    best = fitting[-1]
    if best.tile is None:
        return best
    batch = 1
    while batch < 8 and peak(best.tile, best.tile, batch + 1) <= budget:
        batch += 1
    return Plan(best.tile, batch, peak(min(best.tile, padded_h), min(best.tile, padded_w), batch))
