"""TIFF through tifffile: read by region (only the strips or tiles that hold the asked rows are decoded,
every segment checked against the pixel limit first), written row block by row block; 8/16-bit, float32,
BigTIFF beyond 4 GB, ICC, DPI, XMP and text tags kept."""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from effrestore.errors import ImageError
from effrestore.runtime.imageformats.base import (
    ORIENT,
    Format,
    ImageInfo,
    ImageSource,
    ReadCost,
    RowBlocks,
    StreamedFormat,
    check_pixels,
    one_frame,
    row_bytes,
)
from effrestore.runtime.imageformats.registry import register_format

BIGTIFF_ABOVE = 2**32 - 2**25  # bytes of pixels beyond which a classic TIFF's 32-bit offsets could overflow
# TIFF's text tags under the names PNG's text chunks use for the same fields
TIFF_TEXT_TAGS = ("Author", "Copyright", "Description")
_TIFF_FORMAT = Format(
    "TIFF", ("uint8", "uint16", "float32"), (1, 2, 3, 4), ("icc", "dpi", "xmp", "text"), 2**32 - 1, TIFF_TEXT_TAGS
)


class TiffSource:
    """A TIFF page read by region: only the strips or tiles that hold the asked rows are decoded."""

    def __init__(self, path: Path, limit: int, first_frame: bool) -> None:
        import tifffile

        self.path = path
        try:
            self._tif = tifffile.TiffFile(path)
            one_frame(path, len(self._tif.pages), first_frame, "pages")
            page = self._tif.pages.first
            check_pixels(path, page.imagelength, page.imagewidth, limit)
            self.info = ImageInfo("tiff", _tag(page, 34675), None, tiff_dpi(page), *tiff_xmp_and_text(page))
            self.orientation = _tag(page, 274) if _tag(page, 274) in ORIENT else 1
            self._page, self._layout = page, _Segments.of(path, page, limit)
            self.read_cost = self._layout.read_cost(page)
            first = self._decode_rows(0, 1)  # the converted layout: channels and sample type
        except ImageError:
            self.close()
            raise
        except Exception as exc:  # tifffile raises several exception types for corrupt files
            self.close()
            raise ImageError(f"{path}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
        self.height, self.width = page.imagelength, page.imagewidth
        self.channels = first.shape[2]
        self.dtype = first.dtype
        self._lock = threading.Lock()

    def rows(self, start: int, stop: int) -> np.ndarray:
        with self._lock:
            try:
                return self._decode_rows(start, stop)
            except ImageError:
                raise
            except Exception as exc:
                raise ImageError(
                    f"{self.path}: rows {start}-{stop} cannot be read ({type(exc).__name__}: {exc})"
                ) from None

    def _decode_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop): the segments crossing them placed in tifffile's normalized layout (separate
        samples, depth, length, width, contiguous samples), then converted as a whole-page read would be."""
        page, layout = self._page, self._layout
        separate, contig, seg_h, down, across = layout.separate, layout.contig, layout.seg_h, layout.down, layout.across
        first, last = start // seg_h, math.ceil(stop / seg_h)
        indices = [
            (s * down + r) * across + c for s in range(separate) for r in range(first, last) for c in range(across)
        ]
        top = first * seg_h
        band = np.zeros((separate, min(last * seg_h, page.imagelength) - top, page.imagewidth, contig), page.dtype)
        handle = self._tif.filehandle
        offsets = [page.dataoffsets[i] for i in indices]
        counts = [page.databytecounts[i] for i in indices]
        for data, position in handle.read_segments(offsets, counts, flat=True):
            layout.check_stream(self.path, data)
            segment, (s, _, y, x, _), _ = page.decode(data, indices[position], **layout.decode_args)
            if segment is None:
                continue
            rows = min(segment.shape[1], band.shape[1] + top - y)
            cols = min(segment.shape[2], page.imagewidth - x)
            band[s, y - top : y - top + rows, x : x + cols] = segment[0, :rows, :cols]
        pixels = band.transpose(1, 2, 0, 3).reshape(band.shape[1], band.shape[2], separate * contig)
        pixels = pixels[start - top : stop - top]
        converted = _convert(self.path, page, pixels[..., 0] if pixels.shape[2] == 1 else pixels)
        return converted[..., None] if converted.ndim == 2 else converted

    def close(self) -> None:
        tif = getattr(self, "_tif", None)
        if tif is not None:
            tif.close()


# TIFF compressions whose segments are whole image streams that declare their own size (JPEG, JPEG 2000, PNG,
# WebP; old-style JPEG's are not whole streams): a decoder makes an image of the stream's size, whatever the
# TIFF tags say.
_SELF_SIZED = {7, 33003, 33004, 33005, 34712, 34892, 34927, 34933, 50001}


@dataclass(frozen=True)
class _Segments:
    """How a TIFF page's strips or tiles cover it: sample planes, segment height, segments down and across,
    and what decoding them needs (read once per file, not per band)."""

    separate: int
    contig: int
    seg_h: int
    seg_w: int
    down: int
    across: int
    decode_args: dict[str, Any]
    self_sized: bool

    @classmethod
    def of(cls, path: Path, page: Any, limit: int) -> _Segments:
        """The layout, refused before anything is decoded when a segment could not be part of a valid image:
        one declared larger than the pixel limit, or stored past the end of the file."""
        contiguous = page.planarconfig == 1 or page.samplesperpixel == 1
        separate, contig = (1, page.samplesperpixel) if contiguous else (page.samplesperpixel, 1)
        seg_h = page.tilelength if page.is_tiled else min(page.rowsperstrip, page.imagelength)
        seg_w = page.tilewidth if page.is_tiled else page.imagewidth
        across = math.ceil(page.imagewidth / page.tilewidth) if page.is_tiled else 1
        down = math.ceil(page.imagelength / seg_h)
        if separate * down * across != len(page.dataoffsets) or page.imagedepth > 1:
            raise ImageError(f"{path}: an unusual TIFF segment layout; re-save it as a plain TIFF")
        kind = "tile" if page.is_tiled else "strip"
        if seg_h * seg_w > limit:
            raise ImageError(
                f"{path}: a {kind} is declared {seg_w}×{seg_h} pixels, over the pixel limit of {limit:,} (a "
                f"decompression bomb, or a TIFF with very large {kind}s); re-save it with smaller {kind}s, or raise "
                "--max-pixels if you trust the file"
            )
        size = path.stat().st_size
        if any(o + c > size for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)):
            raise ImageError(f"{path}: a TIFF {kind} lies past the end of the file (truncated or corrupt)")
        decode_args: dict[str, Any] = {"_fullsize": page.is_tiled}
        if page.compression in {6, 7, 34892, 33007}:  # JPEG: the tables live in the page
            decode_args.update(jpegtables=page.jpegtables, jpegheader=page.jpegheader)
        self_sized = int(page.compression) in _SELF_SIZED
        return cls(separate, contig, seg_h, seg_w, down, across, decode_args, self_sized)

    def read_cost(self, page: Any) -> ReadCost:
        """A band of rows is assembled from every segment that crosses it, at full width: up to one segment
        height more above and below (never more than the image), plus one segment at a time as the decoder's
        output and its intermediate, and the compressed bytes read for the band."""
        itemsize = np.dtype(page.dtype).itemsize
        row = page.imagewidth * self.separate * self.contig * itemsize
        segment = self.seg_h * self.seg_w * self.contig * itemsize
        compressed = max(page.databytecounts, default=0) * self.across * self.separate
        converted = row * 2 if page.photometric == 5 else 0  # CMYK to RGB goes through float32
        return ReadCost(
            fixed=min(2 * (self.seg_h - 1), page.imagelength) * row + 2 * segment + compressed,
            per_row=row + converted + -(-compressed // self.seg_h),
        )

    def check_stream(self, path: Path, data: bytes | None) -> None:
        """Refuses a segment whose stream declares more pixels than the segment holds, before decoding it (a
        16×16 JPEG-compressed TIFF can hold a 16384² JPEG stream)."""
        if not self.self_sized or not data:
            return
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as stream:
                    declared = "{}×{}".format(*stream.size)
                    fits = stream.width <= self.seg_w and stream.height <= self.seg_h
        except Image.DecompressionBombError:
            declared, fits = "larger than Pillow's pixel limit", False
        except Exception as exc:
            raise ImageError(
                f"{path}: a compressed TIFF segment's stream cannot be parsed ({type(exc).__name__}), so its "
                "size cannot be checked before decoding; re-save the TIFF with another compression"
            ) from None
        if not fits:
            raise ImageError(
                f"{path}: a compressed TIFF segment holds an image {declared} where the file declares "
                f"{self.seg_w}×{self.seg_h} (a decompression bomb or a corrupt file); it was not decoded"
            )


def _convert(path: Path, page: Any, array: np.ndarray) -> np.ndarray:
    """A TIFF page's samples as gray, gray+alpha, RGB or RGBA: palettes through their colour map, CMYK
    converted to RGB (alpha kept), white-is-zero inverted, bilevel as 8-bit, float16 widened; other colour
    spaces and integer types refused. Pixel by pixel, so
    a band converts as the whole page would."""
    import tifffile

    photometric = tifffile.PHOTOMETRIC
    kind = page.photometric
    if array.dtype == bool:  # bilevel: black and white as 0 and 255 (white-is-zero files store ink as 1)
        ink = array if kind == photometric.MINISWHITE else ~array
        return np.where(ink, 0, 255).astype(np.uint8)
    if array.dtype in (np.float64, np.float16):  # float32 holds every float16, and the range of float64 images
        array = array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype not in (np.uint8, np.uint16):
        raise ImageError(
            f"{path}: {array.dtype} samples; effrestore restores 8- and 16-bit unsigned and 32-bit float images, "
            "and rescaling this range is the user's choice: convert it first (to 16-bit, or float32 in [0, 1])"
        )
    if kind == photometric.PALETTE:
        colors = np.asarray(page.colormap, np.uint16).T  # (entries, 3); the whole map decides, as every band must
        return colors[array] if (colors % 257).any() else (colors // 257).astype(np.uint8)[array]
    if kind == photometric.SEPARATED:
        if page.samplesperpixel < 4 or array.dtype.kind != "u":
            raise ImageError(f"{path}: a separated (ink) TIFF that is not CMYK; convert it to RGB first")
        peak = float(np.iinfo(array.dtype).max)
        cmy, k = array[..., :3].astype(np.float32), array[..., 3:4].astype(np.float32)
        rgb = np.round((peak - cmy) * (peak - k) / peak).astype(array.dtype)
        return np.concatenate([rgb, array[..., 4:5]], axis=2) if page.samplesperpixel > 4 else rgb
    if kind == photometric.MINISWHITE and array.dtype.kind == "u":
        return np.iinfo(array.dtype).max - array
    if kind not in (photometric.MINISBLACK, photometric.RGB, photometric.YCBCR, photometric.MINISWHITE):
        raise ImageError(f"{path}: TIFF colour space {kind.name} is not supported; convert it to RGB first")
    if array.ndim == 3 and array.shape[2] > 4:
        raise ImageError(f"{path}: {array.shape[2]} samples per pixel; split multi-band images first")
    if array.dtype == np.float32 and not np.isfinite(array).all():
        raise ImageError(f"{path}: the input image has NaN or Inf values; replace them first")
    return array


def _tag(page: Any, code: int) -> Any:
    tag = page.tags.get(code)
    return None if tag is None else tag.value


_TIFF_TEXT = {315: "Author", 33432: "Copyright", 270: "Description"}  # under PNG's keywords


def tiff_xmp_and_text(page: Any) -> tuple[bytes | None, None, dict[str, str]]:
    """The XMP packet and the text tags (Artist, Copyright, ImageDescription; not tifffile's own shape
    description) in `ImageInfo`'s order: xmp, gamma (TIFF has none), text."""
    xmp = _tag(page, 700)
    text = {name: str(_tag(page, code)) for code, name in _TIFF_TEXT.items() if _tag(page, code)}
    if page.is_shaped or text.get("Description", "").startswith("{"):
        text.pop("Description", None)
    return (bytes(xmp) if xmp is not None and len(xmp) else None), None, text


def tiff_dpi(page: Any) -> tuple[float, float] | None:
    """Pixels per inch from a page's resolution tags (None when absent or without a unit)."""
    x, y, unit = _tag(page, 282), _tag(page, 283), _tag(page, 296)
    if not x or not y or unit not in (2, 3) or not x[1] or not y[1]:
        return None
    per_inch = 1.0 if unit == 2 else 2.54
    return (x[0] / x[1] * per_inch, y[0] / y[1] * per_inch)


@register_format
class Tiff(StreamedFormat):
    formats: ClassVar[dict[str, Format]] = {".tif": _TIFF_FORMAT, ".tiff": _TIFF_FORMAT}

    def open_region(self, path: Path, limit: int, first_frame: bool) -> tuple[ImageSource, ImageInfo]:
        source = TiffSource(path, limit, first_frame)
        return source, source.info

    def write_rows(
        self, tmp: Path, shape: tuple[int, ...], dtype: np.dtype, blocks: RowBlocks, info: ImageInfo
    ) -> None:
        import tifffile

        channels = 1 if len(shape) == 2 else shape[2]
        options: dict[str, Any] = {
            "photometric": "rgb" if channels >= 3 else "minisblack",
            "planarconfig": "contig" if channels > 1 else None,
            "extrasamples": ("unassalpha",) if channels in (2, 4) else None,
            "iccprofile": info.icc_profile,
            "metadata": None,
        }
        if info.dpi:
            options.update(resolution=tuple(float(d) for d in info.dpi), resolutionunit="INCH")
        tags = {"Author": 315, "Copyright": 33432}
        options["extratags"] = [(tags[k], "s", 0, v, True) for k, v in info.text.items() if k in tags]
        options["description"] = info.text.get("Description")
        if info.xmp:
            options["extratags"].append((700, "B", len(info.xmp), info.xmp, True))
        size = int(np.prod(shape)) * dtype.itemsize
        with tifffile.TiffWriter(tmp, bigtiff=size > BIGTIFF_ABOVE) as writer:
            writer.write(row_bytes(blocks, dtype, shape[0]), shape=shape, dtype=dtype, **options)
