"""`.npy` arrays: read a row range at a time from the file, written row block by row block."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from effrestore.errors import ImageError
from effrestore.runtime.imageformats.base import (
    Format,
    ImageInfo,
    ImageSource,
    ReadCost,
    RowBlocks,
    StreamedFormat,
    check_pixels,
    row_bytes,
)
from effrestore.runtime.imageformats.registry import register_format

_NPY_DTYPES = {np.dtype(t): np.dtype(r) for t, r in [("u1", "u1"), ("u2", "u2"), ("f4", "f4"), ("f8", "f4")]}


class NpySource:
    """A `.npy` file read a row range at a time (no memory map: its pages would count as resident)."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        try:
            with path.open("rb") as handle:
                major, _ = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(handle)
                self._offset = handle.tell()
        except (ValueError, OSError) as exc:
            raise ImageError(f"{path}: not a readable .npy array ({exc})") from None
        if len(shape) not in (2, 3) or dtype.newbyteorder("=") not in _NPY_DTYPES:
            raise ImageError(f"{path}: expected an H×W or H×W×C uint8/uint16/float array, got {dtype} {shape}")
        if fortran:
            raise ImageError(f"{path}: a Fortran-ordered array; save it with numpy.ascontiguousarray first")
        if len(shape) == 3 and not 1 <= shape[2] <= 4:
            raise ImageError(f"{path}: {shape[2]} channels; expected 1-4 channels last (gray, gray+alpha, RGB, RGBA)")
        check_pixels(path, shape[0], shape[1], limit)
        self.height, self.width = shape[:2]
        self.channels = shape[2] if len(shape) == 3 else 1
        self.dtype = _NPY_DTYPES[dtype.newbyteorder("=")]
        self._file_dtype = dtype
        self._row_bytes = self.width * self.channels * dtype.itemsize
        self.read_cost = ReadCost(per_row=self._row_bytes if dtype != self.dtype else 0)  # converted: a copy
        expected = self._offset + self.height * self._row_bytes
        if path.stat().st_size < expected:
            raise ImageError(f"{path}: the file is truncated ({path.stat().st_size} of {expected} bytes)")
        self._handle = path.open("rb")
        self._lock = threading.Lock()

    def rows(self, start: int, stop: int) -> np.ndarray:
        with self._lock:
            self._handle.seek(self._offset + start * self._row_bytes)
            flat = np.fromfile(self._handle, self._file_dtype, (stop - start) * self.width * self.channels)
        rows = flat.reshape(stop - start, self.width, self.channels).astype(self.dtype, copy=False)
        if rows.dtype == np.float32 and not np.isfinite(rows).all():
            raise ImageError(f"{self.path}: the input image has NaN or Inf values; replace them first")
        return rows

    def close(self) -> None:
        self._handle.close()


@register_format
class Npy(StreamedFormat):
    formats: ClassVar[dict[str, Format]] = {
        ".npy": Format("NumPy", ("uint8", "uint16", "float32"), tuple(range(1, 5)), ())
    }

    def open_region(self, path: Path, limit: int, first_frame: bool) -> tuple[ImageSource, ImageInfo]:
        return NpySource(path, limit), ImageInfo("npy")

    def write_rows(
        self, tmp: Path, shape: tuple[int, ...], dtype: np.dtype, blocks: RowBlocks, info: ImageInfo
    ) -> None:
        with tmp.open("wb") as handle:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(handle, header)
            for chunk in row_bytes(blocks, dtype, shape[0]):
                handle.write(chunk)
