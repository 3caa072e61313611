"""The planner: measures the backend's peak memory and time at probe tile sizes, fits both against pixels,
caches the fit per (model hash, backend, precision, device, threads), and picks, among the tiles whose
predicted peak fits the budget, the one with the least predicted time.

Time matters as well as memory: larger tiles waste less on overlap, but on a CPU the cost per pixel rises
above a few hundred pixels a side (caches), so the largest tile that fits is not always the fastest. A plan's
time is its calls' warm time plus a startup (a compile) per new call shape, at the pace restores measured.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from effrestore.errors import ConfigError, MemoryBudgetError
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.cache import BadEntry, CacheFile, integer, machine_id, number, pairs
from effrestore.runtime.memory import current_rss, format_bytes
from effrestore.runtime.tiling import TileGrid

PROBE_SIDES = (64, 80, 96, 128, 192, 256, 384, 512)  # each runs only while its predicted peak fits the budget
TILE_LADDER = (64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048, 3072, 4096)
SAFETY = 1.3  # planned peaks carry a 30% margin over the fitted prediction (ORT peaks jump by size)
# A refusal's advice is for a rerun that may calibrate again (a cold or read-only cache): the first call's
# growth then varies between processes (OpenVINO: 47 vs 56 MiB at 64² for the default model), so the advice
# carries that variation on top of the plan's own margin.
REMEASURE = 1.25
CACHE_VERSION = 5
DIHEDRAL = 8  # an ensemble's calls per tile: 4 turns, each also flipped
WARM_CALLS = 3  # a probe's time is the median of this many warm calls: one call can land on a slow moment
# A restore with this many seconds of backend calls sets the fit's pace alone; a shorter one moves it in
# proportion (a few seconds of probes are a smaller sample of the machine's speed than a long restore).
PACE_HORIZON_S = 10.0
PACE_LIMITS = (0.2, 5.0)  # a restore slowed past these (a suspended process) says nothing about the next one


@dataclass(frozen=True)
class CallFit:
    """One backend call's peak memory growth (bytes) and time (seconds) against its input pixels."""

    fixed: float  # bytes: what a call costs whatever its size (buffers, a compilation)
    per_pixel: float  # bytes per input pixel at the largest probed sizes
    probes: tuple[tuple[int, int], ...]  # (pixels, measured growth)
    timings: tuple[tuple[int, float], ...] = ()  # (pixels, measured seconds of a warm call)
    startups: tuple[tuple[int, float], ...] = ()  # (pixels, seconds a new shape's first call adds: its compile)
    remeasured: bool = True  # a rerun measures again (False: numbers the backend knows, e.g. an engine's)
    pace: float = 1.0  # restores' measured call seconds over what the probes predicted: the machine's speed now

    @property
    def largest_probe(self) -> int:
        return max(pixels for pixels, _ in self.probes)

    def predict(self, pixels: int) -> float:
        return self.fixed + self.per_pixel * pixels

    def predict_seconds(self, pixels: int) -> float | None:
        """Interpolated between timings; None beyond the largest (and for an untimed fit). On a CPU the
        cost per pixel keeps rising past the probed sizes (a 5 MP call ran 3.5× slower per pixel than a
        512² one), so any extrapolation would favour calls larger than anything measured."""
        if not self.timings:
            return None
        sizes, seconds = zip(*sorted(self.timings), strict=True)
        if pixels > sizes[-1]:
            return None
        return self.pace * float(np.interp(pixels, sizes, seconds))

    def predict_startup(self, pixels: int) -> float:
        """Seconds the first call of a shape of `pixels` adds to a warm one (compiling for it, first
        allocations), interpolated between probes and held flat beyond them; 0 for a fit without them."""
        if not self.startups:
            return 0.0
        sizes, seconds = zip(*sorted(self.startups), strict=True)
        return self.pace * float(np.interp(pixels, sizes, seconds))

    def paced(self, measured: float, planned: float) -> CallFit:
        """The fit with its pace moved toward a restore's: `measured` seconds of backend calls where `planned`
        were predicted. The pace scales every size alike, so it changes predicted times, never which tile
        is fastest (the probes' relative costs decide that)."""
        if measured <= 0 or planned <= 0:
            return self
        weight = min(1.0, measured / PACE_HORIZON_S)
        low, high = PACE_LIMITS
        return dataclasses.replace(self, pace=min(high, max(low, self.pace * (measured / planned) ** weight)))

    @classmethod
    def extended(cls, fit: CallFit | None, measured: Probe) -> CallFit:
        """`fit` (None: nothing probed yet) with one more shape measured, its pace kept."""
        known = fit or cls(0.0, 0.0, ())
        extended = cls.from_probes(
            [*known.probes, (measured.pixels, measured.growth)],
            [*known.timings, (measured.pixels, measured.seconds)],
            [*known.startups, (measured.pixels, measured.startup)],
        )
        return dataclasses.replace(extended, pace=known.pace)

    @classmethod
    def from_probes(
        cls,
        probes: Sequence[tuple[int, int]],
        timings: Sequence[tuple[int, float]] = (),
        startups: Sequence[tuple[int, float]] = (),
    ) -> CallFit:
        """A line above every probe. Its slope is the steepest between neighbouring probes in the upper size
        range (there the per-pixel cost shows, not the fixed one); the intercept is raised until no probe
        lies above the line. One probe gives a line through the origin. ONNX Runtime's peaks jump between
        sizes (allocation granularity), so a least-squares line would under-predict some."""
        ordered = sorted(probes)
        large = [(p, g) for p, g in ordered if p * 4 >= ordered[-1][0]]
        slopes = [(g1 - g0) / (p1 - p0) for (p0, g0), (p1, g1) in itertools.pairwise(large) if p1 > p0]
        per_pixel = max([0.0, *slopes]) if slopes else ordered[-1][1] / ordered[-1][0]
        fixed = max(0.0, *(g - per_pixel * p for p, g in ordered))
        return cls(float(fixed), float(per_pixel), tuple(probes), tuple(timings), tuple(startups))


_LARGEST_GROWTH = 1 << 46  # 64 TiB: no measured call grows a process more; a cached number above it is forged
_LONGEST_CALL_S = 1e5


def _parse_fit(entry: dict) -> CallFit:
    """A cached fit, if its probes and timings are real measurements: pixel counts and growths that are
    integers in range, timings that are finite; no probe below what its output alone takes (4 bytes per
    input pixel: a forged zero growth would plan any tile as free)."""
    probes = [
        (integer(p, 1, 1 << 40, "probe pixels"), integer(g, 4 * p, _LARGEST_GROWTH, "probe growth"))
        for p, g in pairs(entry["probes"], "probes")
    ]
    timings, startups = (
        [
            (integer(p, 1, 1 << 40, "timing pixels"), number(t, 0.0, _LONGEST_CALL_S, "timing seconds"))
            for p, t in pairs(entry.get(field, []), field)
        ]
        for field in ("timings", "startups")
    )
    if not probes:
        raise BadEntry("a fit needs at least one probe")
    pace = number(entry.get("pace", 1.0), *PACE_LIMITS, "pace")
    return dataclasses.replace(CallFit.from_probes(probes, timings, startups), pace=pace)


FITS = CacheFile("memory-fits.json", _parse_fit)


def _cache_key(backend: Backend, threads: int | None) -> str:
    """Everything a fit depends on: the model, the backend, its runtime's version, precision, device, threads,
    and the machine (a cache folder may be shared between machines or kept over an upgrade)."""
    return (
        f"v{CACHE_VERSION}:{backend.model_id}:{backend.name}:{backend.runtime_version}:{backend.precision}:"
        f"{backend.device}:{threads or 0}:{machine_id()}"
    )


_measure_lock = threading.Lock()


def _cached(backend: Backend, threads: int | None) -> CallFit | None:
    return FITS.get(_cache_key(backend, threads))


def _store(backend: Backend, threads: int | None, fit: CallFit) -> None:
    entry: dict = {field: [list(pair) for pair in getattr(fit, field)] for field in ("probes", "timings", "startups")}
    entry["pace"] = fit.pace
    FITS.put(_cache_key(backend, threads), entry)


def forget_fit(backend: Backend, threads: int | None) -> None:
    """Drops the cached fit (a run measured a peak above what it planned from it): the next run measures."""
    FITS.drop(_cache_key(backend, threads))


@dataclass(frozen=True)
class Probe:
    """One shape measured: its input pixels, the process's peak growth (bytes), a warm call's seconds, and
    the seconds its first call adds (compiling for the shape, first allocations)."""

    pixels: int
    growth: int
    seconds: float
    startup: float


def probe(backend: Backend, height: int, width: int, batch: int = 1) -> Probe:
    """Measures backend calls on a batch×C×height×width input. The peak covers the backend's preparation for
    the shape (compilation) and a first call, measured from a released backend and handed back after, as a
    first tile of that shape costs. The time is the median of warm calls, since a first call pays one-off
    costs (OpenVINO: a compile of ~1.3 s, then up to 2× a warm call at 128²-256²) that would make the planner
    pick tiles by noise; those costs are kept apart, as the startup a restore pays once per new shape (an
    upper bound where OpenVINO's disk cache already holds the shape: loading it took about half)."""
    shape = (batch, backend.meta.in_channels, height, width)
    tile = np.random.default_rng(height * width * batch).random(shape, dtype=np.float32)
    tracker = backend.memory_tracker()
    backend.hand_back_memory()  # earlier shapes, and freed pages the heap still holds, would hide growth
    before = tracker.current()
    tracker.reset()
    started = time.perf_counter()
    backend.prepare(shape)
    backend.run(tile)
    first = time.perf_counter() - started
    warm = []
    for _ in range(WARM_CALLS):
        started = time.perf_counter()
        backend.run(tile)
        warm.append(time.perf_counter() - started)
    growth = max(0, tracker.peak() - before)
    backend.hand_back_memory()  # the planner's baseline is then the process without this shape
    seconds = statistics.median(warm)
    return Probe(height * width * batch, growth, seconds, max(0.0, first - seconds))


def check_headroom(held: int, buffers: int, budget: int, decoded: int = 0) -> None:
    """Refuses a budget that the loaded process and the image's buffers already fill, before calibrating;
    `decoded` is the part of `held` that is the input decoded whole (its format cannot be read by region)."""
    if held + buffers >= budget:
        whole = (
            f" (of which the input, decoded whole, takes {format_bytes(decoded)}: TIFF and .npy inputs are read "
            "by region instead)"
            if decoded
            else ""
        )
        raise MemoryBudgetError(
            f"the budget {format_bytes(budget)} cannot be met: the process holds {format_bytes(held)} with the "
            f"model loaded{whole} and the image's buffers take {format_bytes(buffers)}; the smallest budget "
            f"that works is more than {format_bytes(held + buffers)}",
            needed=held + buffers,
            budget=budget,
        )


def probe_sides(multiple: int) -> list[int]:
    """`PROBE_SIDES` rounded up to the model's alignment, without repeats."""
    return sorted({-(-side // multiple) * multiple for side in PROBE_SIDES})


def _worth_probing(fit: CallFit, side: int, budget: int) -> bool:
    """Whether a plan could use tiles of `side` (its predicted peak, with the plan's margin, fits `budget`).
    A probe a plan could not use only costs memory: OpenVINO keeps part of every compiled shape after release,
    which would raise the baseline of the plan that follows."""
    return current_rss() + SAFETY * fit.predict(side * side) <= budget


def measure_fit(backend: Backend, threads: int | None, budget: int | None = None, use_cache: bool = True) -> CallFit:
    """The cached fit for this backend, or one measured now (and cached). Probes run smallest first, and
    one that no plan inside `budget` could use is not run: calibrating stays inside the budget. The first,
    the smallest tile any plan uses, has nothing to predict it by: a budget it passes is one no plan meets
    (`check_headroom` refuses those the process alone passes)."""
    known = backend.known_memory()
    if known is not None:
        return dataclasses.replace(CallFit.from_probes(known), remeasured=False)
    with _measure_lock:
        cached = _cached(backend, threads) if use_cache else None
        if cached is not None:
            return cached
        smallest, *larger = probe_sides(backend.meta.multiple_of)
        fit = CallFit.extended(None, probe(backend, smallest, smallest))
        for side in larger:
            if budget is not None and not _worth_probing(fit, side, budget):
                break
            fit = CallFit.extended(fit, probe(backend, side, side))
        if use_cache:
            _store(backend, threads, fit)
        return fit


def record_pace(
    backend: Backend, threads: int | None, fit: CallFit, measured: float, planned: float, use_cache: bool = True
) -> CallFit:
    """`fit` paced by a restore that measured `measured` seconds of backend calls where `planned` were
    predicted (and cached so), so the next plan predicts at the speed restores run at."""
    paced = fit.paced(measured, planned)
    if use_cache and paced is not fit:
        with _measure_lock:
            _store(backend, threads, paced)
    return paced


def refine_fit(
    backend: Backend, threads: int | None, fit: CallFit, height: int, width: int, batch: int, use_cache: bool = True
) -> CallFit:
    """`fit` plus a probe measured at the planned shape, so a plan beyond the probed sizes is checked by a
    measurement instead of trusted as an extrapolation."""
    with _measure_lock:
        refined = CallFit.extended(fit, probe(backend, height, width, batch))
        if use_cache:
            _store(backend, threads, refined)
        return refined


@dataclass(frozen=True)
class Plan:
    """A tile size (None: whole image), tiles per batch, the predicted process peak in bytes and the
    predicted seconds of all backend calls (None when the backend was not timed)."""

    tile: int | None
    batch: int
    planned_peak: int
    pixels: int  # input pixels of one backend call (tile area × batch, or the whole padded image)
    shape: tuple[int, int]  # height × width of one tile as run (fitted to the image; whole: the padded image)
    planned_seconds: float | None = None
    buffers: int = 0  # bytes of image buffers in the planned peak


@dataclass(frozen=True)
class Buffers:
    """Bytes a restore holds besides the backend: `whole` for the image's lifetime (an output assembled in
    memory for an encoder or the caller), `per_row` for every input row of the band being restored."""

    whole: int
    per_row: int
    per_call_pixel: int = 0  # a backend call's float32 input, as tiles and stacked into a batch

    def at(self, rows: int, call_pixels: int) -> int:
        return self.whole + self.per_row * rows + self.per_call_pixel * call_pixels

    @classmethod
    def of(
        cls,
        width: int,
        channels: int,
        out_channels: int,
        scale: int,
        itemsize: int,
        whole_output: int,
        read_fixed: int = 0,
        read_per_row: int = 0,
    ) -> Buffers:
        """Per band row of padded `width`: the input rows and their padded copy (storage dtype), the float32
        blend sum and weight (twice: the accumulator moves down in place), the finished rows as float32 and
        converted twice (to the output dtype and to bytes for the writer); plus what reading the band costs
        the source (`read_fixed`, `read_per_row`: a TIFF's strips or tiles decoded whole)."""
        out_row = width * scale * scale
        per_row = 2 * width * channels * itemsize + out_row * (
            8 * (out_channels + 1) + out_channels * (4 + 2 * itemsize)
        )
        return cls(whole_output + read_fixed, per_row + read_per_row, 8 * channels)


@dataclass(frozen=True)
class Layout:
    """What the planner needs of the image and model: padded size, per-side overlap, tile alignment, and
    whether tiles may be fitted to the image (not for engines that accept only their profiles' sizes)."""

    height: int
    width: int
    overlap: int
    multiple: int
    fitted: bool = True

    def grid(self, tile: int | None) -> TileGrid:
        overlap = self.overlap if tile else 0
        return TileGrid.build(self.height, self.width, tile, overlap, self.multiple, self.fitted)

    def _grid_or_none(self, tile: int | None) -> TileGrid | None:
        """The grid, or None when the tile cannot hold its overlap."""
        try:
            return self.grid(tile)
        except ConfigError:
            return None

    def tile_shape(self, tile: int | None) -> tuple[int, int]:
        """Height × width of one tile as run (the tile clipped to the image where no grid can hold it)."""
        grid = self._grid_or_none(tile)
        if grid is None:
            return min(tile or self.height, self.height), min(tile or self.width, self.width)
        return grid.tile_h, grid.tile_w

    def calls(self, tile: int | None, batch: int) -> int | None:
        """Backend calls for a tile size (batches never span tile rows: a band is restored at a time), or
        None when the tile cannot hold its overlap."""
        grid = self._grid_or_none(tile)
        return None if grid is None else len(grid.ys) * math.ceil(len(grid.xs) / batch)

    def per_row(self, tile: int | None) -> int:
        """Tiles in one tile row: the most a batch can take."""
        return len(self.grid(tile).xs)

    def call_shapes(self, tile: int | None, batch: int, ensemble: bool = False) -> set[tuple[int, int, int]]:
        """The (batch, height, width) shapes the backend is called with: full batches and a row's remainder,
        and with `ensemble` each also turned a quarter (height and width swapped)."""
        h, w = self.tile_shape(tile)
        remainder = self.per_row(tile) % batch
        shapes = {(size, h, w) for size in {batch, remainder} if size}
        return shapes | {(size, w, h) for size, h, w in shapes} if ensemble else shapes


def plan(
    fit: CallFit,
    layout: Layout,
    buffers: Buffers,
    budget: int,
    tile: int | str,
    baseline: int | None = None,
    ladder: Sequence[int] | None = None,
    max_batch: int = 8,
    ready: Collection[tuple[int, int, int]] = (),
    ensemble: bool = False,
) -> Plan:
    """The fastest tile (then the largest batch) whose predicted peak fits `budget`; `tile` is "auto",
    "none" or a size. Only timed sizes compete: a tile (or the whole image) larger than every probe is not
    chosen by "auto" while a timed one fits. Untimed fits (an engine's manifest) take the largest tile that
    fits. A tile's time is its calls' warm time plus the startup of each (batch, height, width) call shape
    the backend does not hold `ready` (compiled by an earlier restore); `ensemble` runs 8 calls per tile.

    `ladder` restricts the tile sizes (an engine accepts only its profiles' sizes); a batch holds at most
    one tile row."""
    base = current_rss() if baseline is None else baseline
    ph, pw = layout.height, layout.width

    def candidate(side: int | None, batch: int = 1) -> Plan:
        h, w = layout.tile_shape(side)
        tiles = layout.calls(side, 1)
        per_tile = fit.predict_seconds(h * w)  # a batch costs its tiles' time: batching saves nothing on a CPU
        seconds = None
        if per_tile is not None and tiles is not None:
            new = layout.call_shapes(side, batch, ensemble) - set(ready)
            calls = tiles * (DIHEDRAL if ensemble else 1)
            seconds = per_tile * calls + sum(fit.predict_startup(n * y * x) for n, y, x in new)
        held = buffers.at(h, h * w * batch)
        peak = int(base + held + SAFETY * fit.predict(h * w * batch))
        return Plan(side, batch, peak, h * w * batch, (h, w), seconds, held)

    if tile == "none":
        chosen = candidate(None)
        if chosen.planned_peak > budget:
            raise MemoryBudgetError(
                f"the whole image needs about {format_bytes(chosen.planned_peak)}, over the budget of "
                f"{format_bytes(budget)}; use --tile auto to tile it",
                needed=chosen.planned_peak,
                budget=budget,
            )
        return chosen
    if isinstance(tile, int):
        chosen = candidate(tile)
        if chosen.planned_peak > budget:
            raise MemoryBudgetError(
                f"tile {tile} needs about {format_bytes(chosen.planned_peak)}, over the "
                f"budget of {format_bytes(budget)}; use a smaller tile or --tile auto",
                needed=chosen.planned_peak,
                budget=budget,
            )
        return chosen
    sides: list[int | None] = [s for s in (ladder or TILE_LADDER) if s < max(ph, pw) and layout.calls(s, 1)]
    if ladder is None or max(ph, pw) <= max(ladder):
        sides.append(None)
    candidates = [candidate(side) for side in sides]
    fitting = [c for c in candidates if c.planned_peak <= budget]
    if not fitting:
        smallest = min(candidates, key=lambda c: c.planned_peak)
        side = smallest.tile or max(ph, pw)
        margin = REMEASURE if fit.remeasured else 1.0
        advice = int(base + smallest.buffers + SAFETY * margin * fit.predict(smallest.pixels))
        raise MemoryBudgetError(
            f"the budget {format_bytes(budget)} cannot be met: even {side}px tiles need about "
            f"{format_bytes(smallest.planned_peak)} (image buffers {format_bytes(smallest.buffers)}, process "
            f"{format_bytes(base)}); a budget that works, also when it must be measured again, is about "
            f"{format_bytes(advice)}",
            needed=advice,
            budget=budget,
        )
    timed = [c for c in fitting if c.planned_seconds is not None]
    best = min(timed, key=lambda c: c.planned_seconds or 0.0) if timed else fitting[-1]
    if best.tile is None:
        return best
    batch, most = 1, min(max_batch, layout.per_row(best.tile))
    while batch < most and candidate(best.tile, batch + 1).planned_peak <= budget:
        batch += 1
    return candidate(best.tile, batch)
