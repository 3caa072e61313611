"""What every image format shares: the metadata carried from input to output, an output format's
capabilities, the image-source protocol for reading by region, the checks every reader makes, and
`ImageFormat`, the class a format module subclasses and registers.

A new format is one module: an `ImageFormat` subclass with its `formats` (suffix → capabilities), `read` and
`write` (or a `StreamedFormat` with `open_region` and `write_rows`, for formats read and written by region),
registered with `@register_format` and named in this package's `__init__`.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from effrestore.errors import ImageError


@dataclass
class ImageInfo:
    """What is carried from input to output: ICC profile, EXIF bytes (orientation already applied), DPI,
    XMP packet, PNG gamma, and text fields (PNG's keywords; TIFF's Artist, Copyright and ImageDescription
    under PNG's names Author, Copyright, Description)."""

    format: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    xmp: bytes | None = None
    gamma: float | None = None
    text: dict[str, str] = field(default_factory=dict)
    previews: int = 0  # embedded preview images (a camera JPEG's MPO thumbnails): never written back


EMBEDDED_PREVIEW = "embedded preview"


def check_pixels(path: Path, height: int, width: int, max_pixels: int) -> None:
    """Refuses an empty image and one over the pixel limit, from its declared size (before decoding)."""
    if height <= 0 or width <= 0:
        raise ImageError(f"{path}: the image is empty ({width}×{height} pixels); there is nothing to restore")
    if height * width > max_pixels:
        raise ImageError(
            f"{path}: {width}×{height} = {height * width:,} pixels exceeds the limit of {max_pixels:,} "
            "(a guard against decompression bombs); raise it with --max-pixels if you trust this file"
        )


@dataclass(frozen=True)
class Format:
    """An output format: the sample types and channel counts it stores without loss, the metadata it keeps."""

    name: str
    dtypes: tuple[str, ...]
    channels: tuple[int, ...]
    keeps: tuple[str, ...]  # of "icc", "exif", "dpi", "xmp", "gamma", "text"
    max_dpi: float = 0.0  # the largest resolution its header stores (where it keeps "dpi")
    text_keys: tuple[str, ...] | None = None  # the text fields it stores (None: any, where it keeps "text")

    def holds_text(self, key: str, value: str) -> bool:
        """Whether the text field `key` can be written as it is (TIFF's tags are ASCII)."""
        if "text" not in self.keeps:
            return False
        return self.text_keys is None or (key in self.text_keys and value.isascii())

    def holds_dpi(self, dpi: tuple[float, float] | None) -> bool:
        """Whether `dpi` can be written in this format's header as it is."""
        return dpi is not None and "dpi" in self.keeps and all(0 < d <= self.max_dpi for d in dpi)


@dataclass(frozen=True)
class ReadCost:
    """Bytes one `rows` call holds besides the rows it returns: `fixed` whatever rows are asked (a strip or
    tile decoded whole, its compressed bytes), `per_row` for each row asked (the rows of the segments around
    them, decoded in full). The planner counts both, so a format's decoding cannot break the budget."""

    fixed: int = 0
    per_row: int = 0


class ImageSource(Protocol):
    """An H×W×C image (C = 1-4, channels last) whose rows can be read in any order."""

    height: int
    width: int
    channels: int
    dtype: np.dtype
    read_cost: ReadCost

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a (stop-start)×W×C array in the storage dtype."""
        ...

    def close(self) -> None: ...


@dataclass
class ArraySource:
    """An image already in memory."""

    array: np.ndarray

    def __post_init__(self) -> None:
        if self.array.ndim == 2:
            self.array = self.array[..., None]
        self.height, self.width, self.channels = self.array.shape
        self.dtype = self.array.dtype
        self.read_cost = ReadCost()

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]

    def close(self) -> None:
        pass


def check_readable(path: Path) -> None:
    """A typed error for a path that is not a readable, non-empty file."""
    if not path.is_file():
        if path.exists():  # a FIFO, a device, a socket: no size to plan by, and reading may never end
            raise ImageError(f"{path}: not a regular file (a pipe or a device); save the image to a file first")
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: cannot read it (permission denied); check the file's permissions")


def one_frame(path: Path, frames: int, first_frame: bool, kind: str) -> None:
    if frames > 1 and not first_frame:
        raise ImageError(
            f"{path}: holds {frames} {kind}; effrestore restores one image per file: pass --first-frame to "
            "restore the first, or split the file"
        )


# EXIF (and TIFF) orientation -> the array operation that makes the image upright (as ImageOps.exif_transpose)
ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


RowBlocks = Iterable[np.ndarray]


def row_bytes(blocks: RowBlocks, dtype: np.dtype, total: int) -> Iterator[bytes]:
    """The blocks' samples as bytes in `dtype`; the rows must add up to `total`."""
    rows = 0
    for block in blocks:
        rows += block.shape[0]
        yield np.ascontiguousarray(block, dtype).tobytes()
    if rows != total:
        raise ImageError(f"the restore produced {rows} rows where {total} were planned")


class ImageFormat(abc.ABC):
    """One file format's reader and writer. `formats`: what each of its suffixes stores as an output;
    `reads`: suffixes read but never written (their outputs are written as PNG)."""

    formats: ClassVar[dict[str, Format]] = {}
    reads: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def read(self, path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
        """(H×W or H×W×C array in its storage dtype, info), the whole image."""

    def write(self, tmp: Path, suffix: str, array: np.ndarray, info: ImageInfo) -> None:
        """Writes `array` (H×W or H×W×C, channels the format holds) with the metadata `info` keeps; a
        read-only format refuses (`formats.check_output_path` refuses its suffix before any work)."""
        raise ImageError(f"{suffix} is read, not written; write .png or .tif")


class StreamedFormat(ImageFormat):
    """A format read by region (`open_region`) and written by row blocks (`write_rows`) as the restore
    finishes them: an image of any size holds a band of rows in memory."""

    @abc.abstractmethod
    def open_region(self, path: Path, limit: int, first_frame: bool) -> tuple[ImageSource, ImageInfo]:
        """A source of the image's rows, read by region."""

    @abc.abstractmethod
    def write_rows(
        self, tmp: Path, shape: tuple[int, ...], dtype: np.dtype, blocks: RowBlocks, info: ImageInfo
    ) -> None:
        """Writes an image of `shape` from consecutive row blocks."""

    def read(self, path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
        """The whole image through the region reader (one decoding path for both uses), turned upright by
        the source's orientation (the output is written upright, without one)."""
        source, info = self.open_region(path, limit, first_frame)
        try:
            array = source.rows(0, source.height)
            orientation = getattr(source, "orientation", 1)
        finally:
            source.close()
        if orientation != 1:
            array = np.ascontiguousarray(ORIENT[orientation](array))
        return (array[..., 0] if array.shape[2] == 1 else array), info

    def write(self, tmp: Path, suffix: str, array: np.ndarray, info: ImageInfo) -> None:
        self.write_rows(tmp, array.shape, array.dtype, [array], info)
