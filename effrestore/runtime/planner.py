"""The memory planner: measures the backend's peak at probe tile sizes, fits memory(pixels), caches the
fit per (model hash, backend, device, threads), and picks the largest tile and batch under a budget."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from effrestore.errors import MemoryBudgetError
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.memory import MemoryFit, current_rss, format_bytes

PROBE_SIDES = (64, 128, 192, 256)
TILE_LADDER = (64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048, 3072, 4096)
SAFETY = 1.3  # planned peaks carry a 30% margin over the fitted prediction (ORT peaks jump by size)
CACHE_VERSION = 2


def cache_file() -> Path:
    return Path(platformdirs.user_cache_dir("effrestore")) / "memory-fits.json"


def _cache_key(backend: Backend, threads: int | None) -> str:
    return f"v{CACHE_VERSION}:{backend.model_id}:{backend.name}:{backend.device}:{threads or 0}"


_cache_lock = threading.Lock()


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _write_cache(path: Path, key: str, fit: MemoryFit) -> None:
    cached = _read_cache(path)
    cached[key] = {"fixed": fit.fixed, "per_pixel": fit.per_pixel, "probes": [list(p) for p in fit.probes]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1))
    except OSError:
        pass  # an unwritable cache only costs a re-measurement next time


def probe(backend: Backend, height: int, width: int, batch: int = 1) -> tuple[int, int]:
    """(pixels, peak memory growth in bytes) of one backend call on a batch×C×height×width input."""
    shape = (batch, backend.meta.in_channels, height, width)
    tile = np.random.default_rng(height * width * batch).random(shape, dtype=np.float32)
    tracker = backend.memory_tracker()
    before = tracker.current()
    tracker.reset()
    backend.run(tile)
    return height * width * batch, max(0, tracker.peak() - before)


def measure_fit(backend: Backend, threads: int | None, use_cache: bool = True) -> MemoryFit:
    """The cached fit for this backend, or a new one measured now (and cached)."""
    known = backend.known_memory()
    if known is not None:
        return MemoryFit.from_probes(known)
    key = _cache_key(backend, threads)
    with _cache_lock:
        entry = _read_cache(cache_file()).get(key) if use_cache else None
        if entry is not None:
            return MemoryFit(entry["fixed"], entry["per_pixel"], tuple(map(tuple, entry["probes"])))
        backend.run(np.zeros((1, backend.meta.in_channels, 64, 64), np.float32))  # warm-up: lazy allocations
        fit = MemoryFit.from_probes([probe(backend, side, side) for side in PROBE_SIDES])
        if use_cache:
            _write_cache(cache_file(), key, fit)
        return fit


def refine_fit(
    backend: Backend, threads: int | None, fit: MemoryFit, height: int, width: int, batch: int, use_cache: bool = True
) -> MemoryFit:
    """`fit` plus a probe measured at the planned shape, so a plan beyond the probed sizes is checked by a
    measurement instead of trusted as an extrapolation."""
    with _cache_lock:
        refined = MemoryFit.from_probes([*fit.probes, probe(backend, height, width, batch)])
        if use_cache:
            _write_cache(cache_file(), _cache_key(backend, threads), refined)
        return refined


@dataclass(frozen=True)
class Plan:
    """A tile size (None: whole image), tiles per batch and the predicted process peak in bytes."""

    tile: int | None
    batch: int
    planned_peak: int
    pixels: int  # input pixels of one backend call (tile area × batch, or the whole padded image)


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
    ladder: Sequence[int] | None = None,
    max_batch: int = 8,
) -> Plan:
    """Largest tile (then batch) whose predicted peak fits `budget`; `tile` is "auto", "none" or a size.

    `ladder` restricts the tile sizes (an engine accepts only its profiles' sizes)."""
    base = current_rss() if baseline is None else baseline

    def peak(side_h: int, side_w: int, batch: int) -> int:
        return int(base + buffers + SAFETY * fit.predict(side_h * side_w * batch))

    if tile == "none":
        chosen = Plan(None, 1, peak(padded_h, padded_w, 1), padded_h * padded_w)
        if chosen.planned_peak > budget:
            raise MemoryBudgetError(
                f"the whole image needs about {format_bytes(chosen.planned_peak)}, over the budget of "
                f"{format_bytes(budget)}; use --tile auto to tile it",
                needed=chosen.planned_peak,
                budget=budget,
            )
        return chosen
    if isinstance(tile, int):
        area = min(tile, padded_h) * min(tile, padded_w)
        chosen = Plan(tile, 1, peak(min(tile, padded_h), min(tile, padded_w), 1), area)
        if chosen.planned_peak > budget:
            raise MemoryBudgetError(
                f"tile {tile} needs about {format_bytes(chosen.planned_peak)}, over the "
                f"budget of {format_bytes(budget)}; use a smaller tile or --tile auto"
            )
        return chosen
    sides = [s for s in (ladder or TILE_LADDER) if s < max(padded_h, padded_w)]
    candidates = [
        Plan(s, 1, peak(min(s, padded_h), min(s, padded_w), 1), min(s, padded_h) * min(s, padded_w)) for s in sides
    ]
    if ladder is None or max(padded_h, padded_w) <= max(ladder):
        candidates.append(Plan(None, 1, peak(padded_h, padded_w, 1), padded_h * padded_w))
    fitting = [c for c in candidates if c.planned_peak <= budget]
    if not fitting:
        smallest, side = candidates[0].planned_peak, candidates[0].tile or max(padded_h, padded_w)
        raise MemoryBudgetError(
            f"the budget {format_bytes(budget)} cannot be met: even {side}px tiles need about "
            f"{format_bytes(smallest)} (image buffers {format_bytes(buffers)}, process {format_bytes(base)}); "
            f"the smallest budget that works is about {format_bytes(smallest)}"
        )
    best = fitting[-1]
    if best.tile is None:
        return best
    batch = 1
    while batch < max_batch and peak(best.tile, best.tile, batch + 1) <= budget:
        batch += 1
    return Plan(best.tile, batch, peak(min(best.tile, padded_h), min(best.tile, padded_w), batch), best.pixels * batch)
