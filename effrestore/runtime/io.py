"""Reading and writing images by suffix, through the format modules of `imageformats`.

Reading checks the file and the pixel limit (a guard against decompression bombs) and reads by region where
the format allows; writing is atomic (temporary file + rename in the target folder), refuses to replace an
existing file unless `overwrite=True`, keeps every sample (a format that cannot hold the array's depth or
channels is refused, see `formats`) and the metadata the format can hold, and names what it cannot.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from effrestore._atomic import atomic_path
from effrestore.errors import ImageError
from effrestore.runtime.formats import check_output_path, check_storable, output_format
from effrestore.runtime.imageformats import (
    EMBEDDED_PREVIEW,
    HANDLERS,
    SUFFIXES,
    ArraySource,
    ImageFormat,
    ImageInfo,
    ImageSource,
    RowBlocks,
    StreamedFormat,
    check_readable,
)
from effrestore.runtime.options import check_max_pixels

DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
STREAMED_SUFFIXES = {
    suffix for suffix, handler in HANDLERS.items() if isinstance(handler, StreamedFormat)
}  # read by region


def pixel_limit(max_pixels: int | None) -> int:
    """The decompression-bomb guard: `max_pixels`, or Pillow's default limit."""
    return check_max_pixels(max_pixels) or DEFAULT_MAX_PIXELS


def _reader(path: Path) -> ImageFormat:
    check_readable(path)
    handler = HANDLERS.get(path.suffix.lower())
    if handler is None:  # Pillow identifies the file by its content: a photo with an unusual suffix still reads
        handler = HANDLERS[".png"]
    return handler


def read_image(
    path: str | Path, max_pixels: int | None = None, *, first_frame: bool = False
) -> tuple[np.ndarray, ImageInfo]:
    """(H×W or H×W×C array in its storage dtype, info) for the image at `path`. A file of several pages or
    frames is refused unless `first_frame` asks for the first."""
    path = Path(path)
    return _reader(path).read(path, pixel_limit(max_pixels), first_frame)


def open_source(
    path: str | Path, max_pixels: int | None = None, *, first_frame: bool = False
) -> tuple[ImageSource, ImageInfo, bool]:
    """(source, info, streamed) for the image at `path`: streamed formats (TIFF, .npy) read by region, the
    others decoded whole."""
    path = Path(path)
    handler, limit = _reader(path), pixel_limit(max_pixels)
    if isinstance(handler, StreamedFormat):
        source, info = handler.open_region(path, limit, first_frame)
        if getattr(source, "orientation", 1) == 1:
            return source, info, True
        source.close()  # stored turned: rows in display order need the whole page
    array, info = handler.read(path, limit, first_frame)
    return ArraySource(array), info, False


def write_image(path: str | Path, array: np.ndarray, info: ImageInfo | None = None, *, overwrite: bool = False) -> Path:
    """Writes atomically in the format given by the suffix, every sample kept (a format that cannot hold the
    array's depth or channels is refused, see `formats`); metadata kept where the format allows."""
    path = Path(path)
    if path.suffix.lower() in STREAMED_SUFFIXES:
        return write_rows(path, array.shape, array.dtype, [array], info, overwrite=overwrite)
    check_output_path(path, overwrite=overwrite)
    check_storable(path, array.dtype, 1 if array.ndim == 2 else array.shape[2])
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    info = _storable(info or ImageInfo(), path)
    with _atomic_image(path, overwrite) as tmp:
        HANDLERS[path.suffix.lower()].write(tmp, path.suffix.lower(), array, info)
    return path


def write_rows(
    path: str | Path,
    shape: tuple[int, ...],
    dtype: np.dtype,
    blocks: RowBlocks,
    info: ImageInfo | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Writes a streamed format (TIFF, .npy) of `shape` atomically from `blocks`, consecutive row ranges in
    order, consumed as they come: an image of any height needs one block in memory."""
    path = Path(path)
    check_output_path(path, overwrite=overwrite)
    channels = 1 if len(shape) == 2 else shape[2]
    check_storable(path, dtype, channels)
    shape = tuple(shape[:2]) if channels == 1 else tuple(shape)
    info = _storable(info or ImageInfo(), path)
    with _atomic_image(path, overwrite) as tmp:
        HANDLERS[path.suffix.lower()].write_rows(tmp, shape, np.dtype(dtype), blocks, info)
    return path


def _storable(info: ImageInfo, path: Path) -> ImageInfo:
    """`info` without what the output format cannot store as it is (a forged 4e9 dpi would overflow PNG's
    pHYs; TIFF's text tags are ASCII); `dropped_metadata` names what was left out."""
    fmt = output_format(path)
    return dataclasses.replace(
        info,
        dpi=info.dpi if fmt.holds_dpi(info.dpi) else None,
        xmp=info.xmp if "xmp" in fmt.keeps else None,
        gamma=info.gamma if "gamma" in fmt.keeps else None,
        text={key: value for key, value in info.text.items() if fmt.holds_text(key, value)},
    )


@contextlib.contextmanager
def _atomic_image(path: Path, overwrite: bool) -> Iterator[Path]:
    """`atomic_path`, with the file system's refusals as typed errors."""
    try:
        with atomic_path(path, replace=overwrite) as tmp:
            yield tmp
    except PermissionError as exc:
        raise ImageError(f"{path}: cannot write here ({exc.strerror}); choose another output folder") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot write ({exc})") from None


def dropped_metadata(info: ImageInfo, path: Path) -> list[str]:
    """The metadata `info` holds that the format of `path` cannot keep (for a note to the user)."""
    fmt = output_format(path)
    held = {"icc": info.icc_profile, "exif": info.exif}
    dropped = [{"icc": "ICC profile", "exif": "EXIF"}[k] for k, v in held.items() if v and k not in fmt.keeps]
    if info.dpi and not fmt.holds_dpi(info.dpi):
        dropped.append("DPI" if "dpi" not in fmt.keeps else f"DPI ({max(info.dpi):.3g}, beyond what {fmt.name} stores)")
    dropped += [
        name for name, held in (("XMP", info.xmp), ("gamma", info.gamma)) if held and name.lower() not in fmt.keeps
    ]
    lost = [key for key, value in info.text.items() if not fmt.holds_text(key, value)]
    if lost:
        dropped.append(f"text fields ({', '.join(lost)})")
    return dropped + [EMBEDDED_PREVIEW] * bool(info.previews)


__all__ = [
    "EMBEDDED_PREVIEW", "STREAMED_SUFFIXES", "SUFFIXES", "ImageInfo", "dropped_metadata", "open_source",
    "read_image", "write_image", "write_rows",
]  # fmt: skip
