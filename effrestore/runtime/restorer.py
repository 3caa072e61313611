"""`Restorer`: load a model once, restore images of any size in tiles under a measured memory budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from effrestore.errors import ConfigError, ImageError, TileError
from effrestore.metadata import ModelMeta
from effrestore.model_file import ModelFile
from effrestore.runtime import planner
from effrestore.runtime.backends import Backend, open_backend
from effrestore.runtime.blending import BandBlender
from effrestore.runtime.formats import check_output_path, check_storable, convert_depth, output_dtype
from effrestore.runtime.imageformats import ArraySource, ImageSource
from effrestore.runtime.io import STREAMED_SUFFIXES, ImageInfo, dropped_metadata, open_source, write_image, write_rows
from effrestore.runtime.memory import MemoryTracker
from effrestore.runtime.options import check_strength, check_threads, parse_budget
from effrestore.runtime.tiling import TileGrid

DEFAULT_BUDGET_FRACTION = 0.6  # without --mem-budget: 60% of the memory available at start
TileProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class RestoreStats:
    """Numbers of one `restore` call. Sizes in pixels, memory in bytes (process RSS on CPU)."""

    height: int
    width: int
    tile: int | None
    batch: int
    tiles: int
    seconds: float
    planned_peak: int
    measured_peak: int
    budget: int
    backend: str
    device: str
    peak_method: str
    precision: str = "fp32"
    planned_seconds: float | None = None  # predicted time of the backend calls (from the measured fit)
    engine_seconds: float = 0.0  # measured time of the backend calls (what `planned_seconds` predicts)
    dropped_metadata: tuple[str, ...] = ()  # what the input carried that the output format cannot keep
    tile_shape: tuple[int, int] | None = None  # height × width of the tiles as run (fitted to the image)

    @property
    def tiling(self) -> str:
        """How the image was cut, as people read it: "whole", or "28 × 512×456" (tiles × height×width)."""
        if self.tile_shape is None:
            return "whole"
        height, width = self.tile_shape
        return f"{self.tiles} × {height}²" if height == width else f"{self.tiles} × {height}×{width}"

    @property
    def over_budget(self) -> bool:
        """Whether the measured peak passed the budget: the plan was wrong, and the fit it came from is
        dropped (the next restore measures again)."""
        return self.measured_peak > self.budget

    @property
    def megapixels_per_second(self) -> float:
        return self.height * self.width / 1e6 / max(self.seconds, 1e-9)

    def to_row(self) -> dict:
        """The numbers as `run --json` prints them (one row per image)."""
        return {
            "height": self.height,
            "width": self.width,
            "tile": self.tile,
            "tile_shape": None if self.tile_shape is None else list(self.tile_shape),
            "tiling": self.tiling,
            "batch": self.batch,
            "tiles": self.tiles,
            "seconds": round(self.seconds, 3),
            "megapixels_per_second": round(self.megapixels_per_second, 3),
            "planned_peak_bytes": self.planned_peak,
            "measured_peak_bytes": self.measured_peak,
            "budget_bytes": self.budget,
            "over_budget": self.over_budget,
            "backend": self.backend,
            "precision": self.precision,
            "planned_seconds": None if self.planned_seconds is None else round(self.planned_seconds, 3),
            "engine_seconds": round(self.engine_seconds, 3),
            "device": self.device,
            "peak_method": self.peak_method,
            "dropped_metadata": list(self.dropped_metadata),
        }


def _to_float(tile: np.ndarray) -> np.ndarray:
    if tile.dtype == np.uint8:
        return tile.astype(np.float32) / 255.0
    if tile.dtype == np.uint16:
        return tile.astype(np.float32) / 65535.0
    return tile.astype(np.float32, copy=False)


def _from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Converts in place (no float temporaries the size of the rows) to `dtype`."""
    if dtype in (np.uint8, np.uint16):
        top = float(np.iinfo(dtype).max)
        np.multiply(values, top, out=values)
        np.round(values, out=values)
        np.clip(values, 0, top, out=values)
        return values.astype(dtype)
    return values  # float output is not clipped


ALPHA_MARGIN = 3  # input rows beyond a block that bicubic resizing reads (its support is 2 pixels)


def _alpha_rows(source: ImageSource, start: int, stop: int, scale: int) -> np.ndarray:
    """The alpha of input rows [start, stop), resized bicubically by `scale` (as a whole-image resize would:
    the neighbouring rows it reads come along)."""
    from PIL import Image

    if scale == 1:
        return source.rows(start, stop)[..., -1]
    low, high = max(0, start - ALPHA_MARGIN), min(source.height, stop + ALPHA_MARGIN)
    alpha = source.rows(low, high)[..., -1]
    size = (alpha.shape[1] * scale, (stop - start) * scale)
    box = (0, start - low, alpha.shape[1], stop - low)
    values = np.asarray(Image.fromarray(alpha.astype(np.float32)).resize(size, Image.BICUBIC, box=box))  # mode F
    if alpha.dtype == np.float32:
        return values
    return np.clip(np.round(values), 0, np.iinfo(alpha.dtype).max).astype(alpha.dtype)


@dataclass(frozen=True)
class _Job:
    """One planned restore: the source, what comes out, and the tiles that make it."""

    source: ImageSource
    color_out: int  # colour channels written (1 when a gray input went through a colour model)
    alpha: bool
    pad_mode: str
    chosen: planner.Plan
    grid: TileGrid
    overlap: int
    discard: int
    budget: int
    tracker: MemoryTracker
    started: float
    scale: int
    strength: float
    call_seconds: list[float] = field(default_factory=list)  # each backend call's (or ensemble's) time

    @property
    def output_shape(self) -> tuple[int, int, int]:
        s = self.scale
        return (self.source.height * s, self.source.width * s, self.color_out + self.alpha)


class Restorer:
    """A loaded model plus its tiling and memory policy. Safe to share between threads; a context manager
    (`with Restorer.load(...) as restorer:`) whose exit closes the backend."""

    def __init__(
        self,
        backend: Backend,
        *,
        mem_budget: int | None,
        tile: int | str,
        tile_overlap: int | None,
        threads: int | None,
        ensemble: bool = False,
        strength: float = 1.0,
    ) -> None:
        self.backend = backend
        self.ensemble = ensemble
        self.meta: ModelMeta = backend.meta
        self.strength = _checked_strength(strength, self.meta.scale)
        self.mem_budget = mem_budget
        self.tile = tile
        self.overlap = self.meta.overlap if tile_overlap is None else tile_overlap
        self.threads = threads
        self._fit_lock = threading.Lock()
        self._fit: planner.CallFit | None = None
        self._local = threading.local()

    @classmethod
    def load(
        cls,
        source: str | Path | ModelFile,
        backend: str = "auto",
        device: str | None = None,
        mem_budget: str | int | None = None,
        tile: str | int = "auto",
        tile_overlap: int | None = None,
        threads: int | None = None,
        meta: ModelMeta | None = None,
        ensemble: bool = False,
        precision: str = "auto",
        strength: float = 1.0,
    ) -> Restorer:
        """`source`: an .onnx file, a checkpoint (.safetensors/.pth), a .plan engine, or a shipped model name.

        `tile`: "auto" (largest that fits the budget), "none" (whole image) or a size in pixels.
        `meta` supplies the model contract for ONNX files exported without effrestore metadata.
        `ensemble` averages the model over the 8 flips and rotations of every tile: a little better (the
        shipped gray denoiser gains 0.1 dB at σ=25) at 8× the time; the peak grows by one output tile.
        `backend` "auto" runs ONNX files in OpenVINO on the CPU when it is installed (else ONNX Runtime);
        `precision` "auto" runs bf16 only where the CPU and the model's bf16 record allow it (see
        `effrestore.runtime.backends.openvino`); `restorer.backend.note` says why a request was not followed.
        `strength` blends each output pixel with its input: 0 returns the input, 1 the model's output, in
        between keeps some of the input's grain (denoisers and other same-size models only)."""
        if not isinstance(source, (str, Path, ModelFile)):
            raise ConfigError(f"Restorer.load takes a model path or shipped model name, got {type(source).__name__}")
        model = ModelFile.resolve(source, meta=meta)
        tile_value = _parse_tile(tile)
        if tile_overlap is not None and tile_overlap < 0:
            raise ConfigError(f"tile overlap must be >= 0, got {tile_overlap}")
        budget = parse_budget(mem_budget)
        check_threads(threads)
        check_strength(strength)
        opened = open_backend(model, backend, device, threads, precision)
        if isinstance(tile_value, int) and tile_value % opened.meta.multiple_of:
            raise ConfigError(f"tile {tile_value} must be a multiple of {opened.meta.multiple_of} for this model")
        return cls(
            opened,
            mem_budget=budget,
            tile=tile_value,
            tile_overlap=tile_overlap,
            threads=threads,
            ensemble=ensemble,
            strength=strength,
        )

    def close(self) -> None:
        """Frees the backend (sessions, compiled shapes, device memory); the restorer runs nothing after."""
        self.backend.close()

    def __enter__(self) -> Restorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def last_stats(self) -> RestoreStats | None:
        """Stats of the last `restore` call made by the calling thread."""
        return getattr(self._local, "stats", None)

    def memory_fit(self, budget: int | None = None) -> planner.CallFit:
        """The backend's measured memory and time per call (calibrated once, inside `budget`)."""
        with self._fit_lock:
            if self._fit is None:
                self._fit = planner.measure_fit(self.backend, self.threads, budget)
            return self._fit

    def _measure_planned(self, fit: planner.CallFit, chosen: planner.Plan) -> planner.CallFit:
        """Measures the backend at a planned shape larger than any probe and keeps the refined fit: a budget
        the user set is checked against measured numbers, never only against an extrapolation."""
        height, width = chosen.shape
        with self._fit_lock:
            self._fit = planner.refine_fit(self.backend, self.threads, fit, height, width, chosen.batch)
            return self._fit

    def _plan(
        self,
        fit: planner.CallFit,
        layout: planner.Layout,
        buffers: planner.Buffers,
        budget: int,
        baseline: int,
        ladder: tuple[int, ...] | None,
        max_batch: int,
    ) -> planner.Plan:
        """The planner's choice for this restorer's tile setting, with no startup planned for the call shapes
        the backend already holds ready."""
        ready = {(n, h, w) for n, _, h, w in self.backend.ready_shapes()}
        return planner.plan(fit, layout, buffers, budget, self.tile, baseline, ladder, max_batch, ready, self.ensemble)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """The backend on one batch, or with `ensemble` the mean over its 8 dihedral transforms, each undone
        on the output (one transform at a time: the peak stays that of a single call)."""
        if not self.ensemble:
            return self.backend.run(batch)
        total = None
        for turns in range(4):
            for flip in (False, True):
                view = np.rot90(batch, turns, axes=(2, 3))
                result = self.backend.run(np.ascontiguousarray(view[..., ::-1] if flip else view))
                result = np.rot90(result[..., ::-1] if flip else result, -turns, axes=(2, 3))
                total = result.copy() if total is None else np.add(total, result, out=total)
        return total / 8

    def _color_channels(self, channels: int, name: str) -> int:
        """Colour channels of an input of `channels` (alpha excluded), checked against the model's."""
        color = channels - (channels in (2, 4))
        if color != self.meta.in_channels and not (color == 1 and self.meta.in_channels == 3):
            raise ImageError(
                f"{name}the model takes {self.meta.in_channels}-channel images and this one is colour; use a "
                "colour model (e.g. denoise-photo)"
            )
        return color

    def output_channels(self, channels: int, keep_color: bool = False) -> int:
        """Channels of the result for an input of `channels`: as they came (a gray image through a colour
        model comes back gray unless `keep_color`), alpha carried through."""
        alpha = channels in (2, 4)
        color = self.meta.out_channels
        if channels - alpha == 1 and color == 3 and not keep_color:
            color = 1
        return color + alpha

    def restore(
        self,
        image: np.ndarray,
        progress: TileProgress | None = None,
        *,
        keep_color: bool = False,
        strength: float | None = None,
    ) -> np.ndarray:
        """Restores an H×W or H×W×C image (uint8, uint16, or float32 on [0, 1]); returns the same layout and
        dtype, (scale·H)×(scale·W), alpha carried through. A gray image through a colour model comes back
        gray, the mean of the restored channels (the model saw three equal copies, so each is an estimate
        of the same gray; their mean has the least noise), unless `keep_color` asks for the RGB result.
        `strength` overrides the restorer's own for this call."""
        image = _checked_image(image)
        source = ArraySource(image)
        job = self._prepare(source, keep_color, whole_output=True, strength=strength)
        restored = _assemble(job.output_shape, image.dtype, self._blocks(job, progress))
        self._record(job)
        return restored[..., 0] if image.ndim == 2 and restored.shape[2] == 1 else restored

    def restore_file(
        self,
        src: str | Path,
        dst: str | Path,
        *,
        overwrite: bool = False,
        max_pixels: int | None = None,
        progress: TileProgress | None = None,
        keep_color: bool = False,
        output_depth: int | None = None,
        first_frame: bool = False,
        strength: float | None = None,
    ) -> Path:
        """Restores `src` into `dst`, written atomically (format from the suffix; ICC/EXIF/DPI kept where it
        can hold them, `last_stats.dropped_metadata` names what it cannot). A TIFF or .npy input is read by
        region and a TIFF or .npy output written as its rows are finished, so memory does not grow with the
        image; other formats are decoded or encoded whole (and counted so in the plan). Everything about the
        output is checked first: a format that cannot hold the result's depth or channels is refused;
        `output_depth` (8, 16) converts on purpose."""
        dst = Path(dst)
        check_output_path(dst, overwrite=overwrite)
        if Path(src).resolve() == dst.resolve():
            raise ImageError(f"{dst}: refusing to write over the input; choose another output path")
        source, info, streamed_in = open_source(src, max_pixels, first_frame=first_frame)
        try:
            dtype = output_dtype(source.dtype, output_depth)
            check_storable(dst, dtype, self.output_channels(source.channels, keep_color))
            streamed_out = dst.suffix.lower() in STREAMED_SUFFIXES
            decoded = 0 if streamed_in else source.height * source.width * source.channels * source.dtype.itemsize
            job = self._prepare(
                source, keep_color, not streamed_out, decoded=decoded, name=f"{src}: ", strength=strength
            )
            blocks = (convert_depth(block, output_depth) for block in self._blocks(job, progress))
            if streamed_out:
                written = write_rows(dst, job.output_shape, dtype, blocks, info, overwrite=overwrite)
            else:
                written = write_image(dst, _assemble(job.output_shape, dtype, blocks), info, overwrite=overwrite)
        finally:
            source.close()
        self._record(job, tuple(dropped_metadata(info, dst)))
        return written

    def _prepare(
        self,
        source: ImageSource,
        keep_color: bool,
        whole_output: bool,
        decoded: int = 0,
        name: str = "",
        strength: float | None = None,
    ) -> _Job:
        """Plans a restore of `source`: the budget, the buffers of a band (and of an output assembled whole
        when `whole_output`), the calibrated fit, the tile and batch."""
        strength = self.strength if strength is None else _checked_strength(strength, self.meta.scale)
        started = time.monotonic()
        tracker = self.backend.memory_tracker()
        tracker.reset()
        height, width = source.height, source.width
        color_in = self._color_channels(source.channels, name)
        alpha = color_in != source.channels
        color_out = self.output_channels(source.channels, keep_color) - alpha
        m, s = self.meta.multiple_of, self.meta.scale
        pad_h, pad_w = (-height) % m, (-width) % m
        ph, pw = height + pad_h, width + pad_w
        budget = self.mem_budget or int(tracker.available() * DEFAULT_BUDGET_FRACTION)
        itemsize = source.dtype.itemsize
        output_bytes = height * width * s * s * (color_out + alpha) * itemsize
        read = source.read_cost
        buffers = (
            planner.Buffers.of(
                pw,
                self.meta.in_channels,
                self.meta.out_channels,
                s,
                itemsize,
                output_bytes * whole_output,
                read.fixed,
                read.per_row,
            )
            if tracker.counts_host_buffers
            else planner.Buffers(0, 0)
        )
        smallest_band = buffers.at(min(ph, min(planner.TILE_LADDER)), 0)
        planner.check_headroom(tracker.current(), smallest_band, budget, decoded)
        fit = self.memory_fit(budget - smallest_band)
        ladder = self.backend.tile_sizes()
        max_batch = self.backend.max_batch() or 8
        layout = planner.Layout(ph, pw, self.overlap, m, fitted=ladder is None)
        chosen = self._plan(fit, layout, buffers, budget, tracker.current(), ladder, max_batch)
        while self.mem_budget is not None and ladder is None and chosen.pixels > fit.largest_probe:
            fit = self._measure_planned(fit, chosen)
            chosen = self._plan(fit, layout, buffers, budget, tracker.current(), ladder, max_batch)
        overlap = self.overlap if chosen.tile is not None else 0
        grid = layout.grid(chosen.tile)
        rf = self.meta.receptive_field
        discard = min(overlap, rf) if rf is not None else overlap // 2
        pad_mode = "reflect" if pad_h < height and pad_w < width else "edge"
        return _Job(
            source, color_out, alpha, pad_mode, chosen, grid, overlap, discard, budget, tracker, started, s, strength
        )

    def _band(self, job: _Job, start: int) -> np.ndarray:
        """Padded model input rows [start, start + tile height): rows past the image mirrored (or repeated) as
        a whole-image pad would, alpha left out, gray repeated for a colour model, columns padded."""
        source, grid = job.source, job.grid
        rows = np.arange(start, start + grid.tile_h)
        last = source.height - 1
        rows = np.where(rows > last, 2 * last - rows, rows) if job.pad_mode == "reflect" else np.minimum(rows, last)
        low = int(rows.min())
        band = source.rows(low, int(rows.max()) + 1)[rows - low]
        color = band[..., : source.channels - job.alpha]
        if color.shape[2] != self.meta.in_channels:
            color = np.repeat(color, self.meta.in_channels, axis=2)
        pad_w = grid.width - source.width
        return np.pad(color, ((0, 0), (0, pad_w), (0, 0)), mode=job.pad_mode) if pad_w else color

    def _blocks(self, job: _Job, progress: TileProgress | None) -> Iterator[np.ndarray]:
        """The restored image as consecutive blocks of output rows, one per tile row: the band of input it
        needs is read, its tiles run in batches, and the rows no later tile touches are finished."""
        grid, s = job.grid, job.scale
        blender = BandBlender(grid, s, self.meta.out_channels, job.overlap, job.discard)
        done, total = 0, len(grid.ys) * len(grid.xs)
        for row, y in enumerate(grid.ys):
            band = self._band(job, y)
            for first in range(0, len(grid.xs), job.chosen.batch):
                xs = grid.xs[first : first + job.chosen.batch]
                batch = np.stack([_to_float(band[:, x : x + grid.tile_w]).transpose(2, 0, 1) for x in xs])
                for x, tile_out in zip(xs, self._run_batch(job, batch, y, xs[0]), strict=True):
                    blender.add(y, x, tile_out)
                done += len(xs)
                if progress is not None:
                    progress(done, total)
            del band
            next_y = grid.ys[row + 1] if row + 1 < len(grid.ys) else None
            rows = blender.finish_row(next_y)
            yield self._finished(job, y * s, rows)

    def _run_batch(self, job: _Job, batch: np.ndarray, y: int, x: int) -> np.ndarray:
        grid = job.grid
        started = time.perf_counter()
        try:
            result = self._infer(batch)
        except Exception as exc:
            raise TileError(f"tile at y={y}, x={x} (size {grid.tile_h}×{grid.tile_w}) failed: {exc}") from exc
        if not np.isfinite(result).all():
            raise TileError(f"tile batch starting at y={y}, x={x} produced NaN/Inf values")
        job.call_seconds.append(time.perf_counter() - started)
        return result

    def _finished(self, job: _Job, start: int, rows: np.ndarray) -> np.ndarray:
        """Blended float rows from output row `start` as the output's samples: cropped to the image, gray
        as the mean of the channels when it came gray, in the input's dtype, its alpha carried through."""
        s = job.scale
        stop = min(start + rows.shape[0], job.source.height * s)
        rows = rows[: max(0, stop - start), : job.source.width * s]
        if job.color_out < rows.shape[2]:
            rows = rows.mean(axis=2, keepdims=True)
        if job.strength < 1 and rows.shape[0]:
            original = _to_float(job.source.rows(start, stop)[..., : job.source.channels - job.alpha])
            rows = original + job.strength * (rows - original)
        block = _from_float(rows, job.source.dtype)
        if job.alpha and block.shape[0]:
            alpha = _alpha_rows(job.source, start // s, stop // s, s)
            block = np.concatenate([block, alpha[..., None]], axis=2)
        return block

    def _record(self, job: _Job, dropped: tuple[str, ...] = ()) -> None:
        """Keeps the call's stats; a peak above the budget drops the fit that planned it (in memory and in
        the cache), so the next restore measures again instead of repeating the mistake. Otherwise the fit's
        pace follows the measured time of the backend calls."""
        chosen = job.chosen
        stats = RestoreStats(
            job.source.height,
            job.source.width,
            chosen.tile,
            chosen.batch,
            len(job.grid.ys) * len(job.grid.xs),
            time.monotonic() - job.started,
            chosen.planned_peak,
            job.tracker.peak(),
            job.budget,
            self.backend.name,
            self.backend.device,
            job.tracker.method,
            self.backend.precision,
            chosen.planned_seconds,
            sum(job.call_seconds),
            dropped,
            None if chosen.tile is None else chosen.shape,
        )
        self._local.stats = stats
        if self.backend.known_memory() is not None:
            return
        with self._fit_lock:
            if stats.over_budget:
                self._fit = None
                planner.forget_fit(self.backend, self.threads)
            elif self._fit is not None and chosen.planned_seconds:
                self._fit = planner.record_pace(
                    self.backend, self.threads, self._fit, stats.engine_seconds, chosen.planned_seconds
                )


def _assemble(shape: tuple[int, ...], dtype: np.dtype, blocks: Iterator[np.ndarray]) -> np.ndarray:
    """The blocks stacked into the whole output (for the caller's array, or an encoder that needs it all)."""
    out = np.empty(shape, dtype)
    row = 0
    for block in blocks:
        out[row : row + block.shape[0]] = block
        row += block.shape[0]
    return out


def _checked_image(image: object) -> np.ndarray:
    """`image` as an H×W or H×W×C array (C = 1-4, channels last) in native byte order, or a typed error that
    says what to pass instead."""
    if not isinstance(image, np.ndarray):
        hint = " (convert a PIL image with numpy.asarray(img))" if type(image).__module__.startswith("PIL") else ""
        raise ImageError(f"restore takes a numpy array, got {type(image).__name__}{hint}")
    if image.dtype.byteorder == ">":
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise ImageError(f"unsupported dtype {image.dtype}; use uint8, uint16 or float32 in [0, 1]")
    if image.ndim not in (2, 3):
        raise ImageError(f"expected an H×W or H×W×C image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"the image is empty ({image.shape[1]}×{image.shape[0]} pixels)")
    if image.ndim == 3 and image.shape[2] == 0:
        raise ImageError(f"the image has no channels (shape {image.shape}); pass H×W or H×W×C with C = 1-4")
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        advice = (
            "it looks channels-first: pass image.transpose(1, 2, 0)"
            if 1 <= image.shape[0] <= 4
            else "split multi-band images into arrays of 1-4 channels"
        )
        raise ImageError(
            f"expected H×W×C with 1-4 channels last (gray, gray+alpha, RGB, RGBA), got shape {image.shape}; {advice}"
        )
    if image.dtype == np.float32 and not np.isfinite(image).all():
        raise ImageError("the input image has NaN or Inf values; replace them (e.g. numpy.nan_to_num) first")
    return image


def _checked_strength(strength: float, scale: int) -> float:
    strength = check_strength(strength)
    if strength < 1 and scale != 1:
        raise ConfigError(
            f"--strength blends the output with its input, which a ×{scale} model's output does not match in "
            "size; leave --strength at 1 for super-resolution"
        )
    return strength


def _parse_tile(tile: str | int) -> int | str:
    if isinstance(tile, int) or (isinstance(tile, str) and tile.isdigit()):
        value = int(tile)
        if value <= 0:
            raise ConfigError(f"tile must be positive, got {value}")
        return value
    if tile in ("auto", "none"):
        return tile
    raise ConfigError(f"tile must be 'auto', 'none' or a size in pixels, got {tile!r}")


__all__ = ["ImageInfo", "RestoreStats", "Restorer"]
