"""`Restorer`: load a model once, restore images of any size in tiles under a measured memory budget."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from effrestore.errors import ConfigError, ImageError, TileError
from effrestore.metadata import ModelMeta
from effrestore.runtime import planner
from effrestore.runtime.backends import Backend, open_backend
from effrestore.runtime.formats import check_output_path, check_storable, convert_depth, output_dtype
from effrestore.runtime.io import ImageInfo, dropped_metadata, read_image, write_image
from effrestore.runtime.options import check_threads, parse_budget
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
    dropped_metadata: tuple[str, ...] = ()  # what the input carried that the output format cannot keep

    @property
    def megapixels_per_second(self) -> float:
        return self.height * self.width / 1e6 / max(self.seconds, 1e-9)


def _to_float(tile: np.ndarray) -> np.ndarray:
    if tile.dtype == np.uint8:
        return tile.astype(np.float32) / 255.0
    if tile.dtype == np.uint16:
        return tile.astype(np.float32) / 65535.0
    return tile.astype(np.float32, copy=False)


def _from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Converts in place (no full-size float temporaries: at 8K each would be ~400 MB) to `dtype`."""
    if dtype in (np.uint8, np.uint16):
        top = float(np.iinfo(dtype).max)
        np.multiply(values, top, out=values)
        np.round(values, out=values)
        np.clip(values, 0, top, out=values)
        return values.astype(dtype)
    return values  # float output is not clipped


def _resize_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    from PIL import Image

    if scale == 1:
        return alpha
    size = (alpha.shape[1] * scale, alpha.shape[0] * scale)
    resized = Image.fromarray(alpha.astype(np.float32)).resize(size, Image.BICUBIC)  # mode F keeps precision
    values = np.asarray(resized)
    if alpha.dtype == np.float32:
        return values
    top = np.iinfo(alpha.dtype).max
    return np.clip(np.round(values), 0, top).astype(alpha.dtype)


class Restorer:
    """A loaded model plus its tiling and memory policy. Safe to share between threads."""

    def __init__(
        self,
        backend: Backend,
        *,
        mem_budget: int | None,
        tile: int | str,
        tile_overlap: int | None,
        threads: int | None,
        ensemble: bool = False,
    ) -> None:
        self.backend = backend
        self.ensemble = ensemble
        self.meta: ModelMeta = backend.meta
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
        source: str | Path,
        backend: str = "auto",
        device: str | None = None,
        mem_budget: str | int | None = None,
        tile: str | int = "auto",
        tile_overlap: int | None = None,
        threads: int | None = None,
        meta: ModelMeta | None = None,
        ensemble: bool = False,
        precision: str = "auto",
    ) -> Restorer:
        """`source`: an .onnx file, a checkpoint (.safetensors/.pth), a .plan engine, or a shipped model name.

        `tile`: "auto" (largest that fits the budget), "none" (whole image) or a size in pixels.
        `meta` supplies the model contract for ONNX files exported without effrestore metadata.
        `ensemble` averages the model over the 8 flips and rotations of every tile: a little better (the
        shipped gray denoiser gains 0.1 dB at σ=25) at 8× the time; the peak grows by one output tile.
        `backend` "auto" runs ONNX files in OpenVINO on the CPU when it is installed (else ONNX Runtime);
        `precision` "auto" runs bf16 only where the CPU and the model's bf16 record allow it (see
        `effrestore.runtime.precision`); `restorer.backend.note` says why a request was not followed."""
        from effrestore.zoo import require_entry

        if not isinstance(source, (str, Path)):
            raise ConfigError(f"Restorer.load takes a model path or shipped model name, got {type(source).__name__}")
        path = Path(source)
        if not path.exists():
            path = require_entry(str(source)).onnx
        tile_value = _parse_tile(tile)
        if tile_overlap is not None and tile_overlap < 0:
            raise ConfigError(f"tile overlap must be >= 0, got {tile_overlap}")
        budget = parse_budget(mem_budget)
        check_threads(threads)
        opened = open_backend(path, backend, device, threads, meta, precision)
        if isinstance(tile_value, int) and tile_value % opened.meta.multiple_of:
            raise ConfigError(f"tile {tile_value} must be a multiple of {opened.meta.multiple_of} for this model")
        return cls(
            opened, mem_budget=budget, tile=tile_value, tile_overlap=tile_overlap, threads=threads, ensemble=ensemble
        )

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

    def _measure_planned(self, fit: planner.CallFit, chosen: planner.Plan, ph: int, pw: int) -> planner.CallFit:
        """Measures the backend at a planned shape larger than any probe and keeps the refined fit: a budget
        the user set is checked against measured numbers, never only against an extrapolation."""
        height, width = (ph, pw) if chosen.tile is None else (min(chosen.tile, ph), min(chosen.tile, pw))
        with self._fit_lock:
            self._fit = planner.refine_fit(self.backend, self.threads, fit, height, width, chosen.batch)
            return self._fit

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

    def _split_channels(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if image.ndim == 2:
            image = image[..., None]
        channels = image.shape[2]
        alpha = None
        if channels in (2, 4):
            image, alpha = image[..., :-1], image[..., -1]
        if image.shape[2] != self.meta.in_channels:
            if image.shape[2] == 1 and self.meta.in_channels == 3:
                image = np.repeat(image, 3, axis=2)
            elif image.shape[2] == 3:
                raise ImageError(
                    f"the model takes {self.meta.in_channels}-channel images and this one is colour; use a colour "
                    "model (e.g. denoise-color)"
                )
        return image, alpha

    def output_channels(self, channels: int, keep_color: bool = False) -> int:
        """Channels of the result for an input of `channels`: as they came (a gray image through a colour
        model comes back gray unless `keep_color`), alpha carried through."""
        alpha = channels in (2, 4)
        color = self.meta.out_channels
        if channels - alpha == 1 and color == 3 and not keep_color:
            color = 1
        return color + alpha

    def restore(
        self, image: np.ndarray, progress: TileProgress | None = None, *, keep_color: bool = False
    ) -> np.ndarray:
        """Restores an H×W or H×W×C image (uint8, uint16, or float32 on [0, 1]); returns the same layout and
        dtype, (scale·H)×(scale·W), alpha carried through. A gray image through a colour model comes back
        gray, the mean of the restored channels (the model saw three equal copies, so each is an estimate
        of the same gray; their mean has the least noise), unless `keep_color` asks for the RGB result."""
        image = _checked_image(image)
        started = time.monotonic()
        tracker = self.backend.memory_tracker()
        tracker.reset()
        squeeze = image.ndim == 2
        height, width = image.shape[:2]
        color, alpha = self._split_channels(image)
        m, s = self.meta.multiple_of, self.meta.scale
        pad_h, pad_w = (-height) % m, (-width) % m
        mode = "reflect" if pad_h < height and pad_w < width else "edge"
        padded = np.pad(color, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode) if pad_h or pad_w else color
        ph, pw = padded.shape[:2]
        budget = self.mem_budget or int(tracker.available() * DEFAULT_BUDGET_FRACTION)
        buffers = (
            planner.image_buffers(ph, pw, self.meta.in_channels, self.meta.out_channels, s, image.itemsize)
            if tracker.counts_host_buffers
            else 0
        )
        planner.check_headroom(tracker.current(), buffers, budget)
        fit = self.memory_fit(budget - buffers)
        ladder = self.backend.tile_sizes()
        max_batch = 1 if ladder else 8  # an engine's profiles are built for batch 1
        layout = planner.Layout(ph, pw, self.overlap, m)
        chosen = planner.plan(
            fit, layout, buffers, budget, self.tile, tracker.current(), ladder=ladder, max_batch=max_batch
        )
        while self.mem_budget is not None and ladder is None and chosen.pixels > fit.largest_probe:
            fit = self._measure_planned(fit, chosen, ph, pw)
            chosen = planner.plan(fit, layout, buffers, budget, self.tile, tracker.current())
        overlap = self.overlap if chosen.tile is not None else 0
        grid = TileGrid.build(ph, pw, chosen.tile, overlap, m)
        rf = self.meta.receptive_field
        discard = min(overlap, rf) if rf is not None else overlap // 2
        out = np.zeros((ph * s, pw * s, self.meta.out_channels), np.float32)
        weight = np.zeros((ph * s, pw * s, 1), np.float32)
        tiles = grid.tiles
        for first in range(0, len(tiles), chosen.batch):
            group = tiles[first : first + chosen.batch]
            batch = np.stack(
                [_to_float(padded[y : y + grid.tile_h, x : x + grid.tile_w]).transpose(2, 0, 1) for y, x in group]
            )
            try:
                result = self._infer(batch)
            except Exception as exc:
                y, x = group[0]
                raise TileError(f"tile at y={y}, x={x} (size {grid.tile_h}×{grid.tile_w}) failed: {exc}") from exc
            if not np.isfinite(result).all():
                raise TileError(f"tile batch starting at y={group[0][0]}, x={group[0][1]} produced NaN/Inf values")
            for (y, x), tile_out in zip(group, result, strict=True):
                w = grid.weights(y, x, s, overlap, discard)[..., None]
                out[y * s : (y + grid.tile_h) * s, x * s : (x + grid.tile_w) * s] += tile_out.transpose(1, 2, 0) * w
                weight[y * s : (y + grid.tile_h) * s, x * s : (x + grid.tile_w) * s] += w
            if progress is not None:
                progress(min(first + chosen.batch, len(tiles)), len(tiles))
        np.divide(out, weight, out=out)
        out = out[: height * s, : width * s]
        channels_in = 1 if image.ndim == 2 else image.shape[2]
        color_out = self.output_channels(channels_in, keep_color) - (alpha is not None)
        if color_out < out.shape[2]:  # gray in, gray out: the mean of the restored channels
            out = out.mean(axis=2, keepdims=True)
        restored = _from_float(out, image.dtype)
        del out, weight
        if alpha is not None:
            restored = np.concatenate([restored, _resize_alpha(alpha, s)[..., None]], axis=2)
        if squeeze and restored.shape[2] == 1:
            restored = restored[..., 0]
        self._local.stats = RestoreStats(
            height,
            width,
            chosen.tile,
            chosen.batch,
            len(tiles),
            time.monotonic() - started,
            chosen.planned_peak,
            tracker.peak(),
            budget,
            self.backend.name,
            self.backend.device,
            tracker.method,
            self.backend.precision,
            chosen.planned_seconds,
        )
        return restored

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
    ) -> Path:
        """Reads `src`, restores it, writes `dst` atomically (format from the suffix; ICC/EXIF/DPI kept
        where it can hold them, `last_stats.dropped_metadata` names what it cannot). Everything about the
        output is checked before the restore: a format that cannot hold the result's depth or channels is
        refused; `output_depth` (8, 16) converts on purpose."""
        dst = Path(dst)
        check_output_path(dst, overwrite=overwrite)
        if Path(src).resolve() == dst.resolve():
            raise ImageError(f"{dst}: refusing to write over the input; choose another output path")
        image, info = read_image(src, max_pixels, first_frame=first_frame)
        channels = 1 if image.ndim == 2 else image.shape[2]
        check_storable(dst, output_dtype(image.dtype, output_depth), self.output_channels(channels, keep_color))
        try:
            restored = self.restore(image, progress, keep_color=keep_color)
        except ImageError as exc:  # what is wrong with the pixels: say which file holds them
            raise ImageError(f"{src}: {exc}") from None
        written = write_image(dst, convert_depth(restored, output_depth), info, overwrite=overwrite)
        stats = self.last_stats
        if stats is not None:
            self._local.stats = dataclasses.replace(stats, dropped_metadata=tuple(dropped_metadata(info, dst)))
        return written


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
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        advice = (
            "it looks channels-first: pass image.transpose(1, 2, 0)"
            if image.shape[0] <= 4
            else "split multi-band images into arrays of 1-4 channels"
        )
        raise ImageError(
            f"expected H×W×C with 1-4 channels last (gray, gray+alpha, RGB, RGBA), got shape {image.shape}; {advice}"
        )
    if image.dtype == np.float32 and not np.isfinite(image).all():
        raise ImageError("the input image has NaN or Inf values; replace them (e.g. numpy.nan_to_num) first")
    return image


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
