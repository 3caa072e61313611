"""Image formats, one module each (reader and writer together), registered by suffix; importing this
package imports every format module, so each registers itself."""

from __future__ import annotations

from effrestore.runtime.imageformats import npy, pillow, tiff  # noqa: F401 (they register themselves)
from effrestore.runtime.imageformats.base import (
    EMBEDDED_PREVIEW,
    ORIENT,
    ArraySource,
    Format,
    ImageFormat,
    ImageInfo,
    ImageSource,
    ReadCost,
    RowBlocks,
    StreamedFormat,
    check_pixels,
    check_readable,
)
from effrestore.runtime.imageformats.registry import HANDLERS, handler_for, output_formats, register_format

FORMATS = output_formats()  # every suffix written, with what it holds
SUFFIXES = set(HANDLERS)  # every suffix read

__all__ = [
    "EMBEDDED_PREVIEW", "FORMATS", "HANDLERS", "ORIENT", "SUFFIXES", "ArraySource", "Format", "ImageFormat",
    "ImageInfo", "ImageSource", "ReadCost", "RowBlocks", "StreamedFormat", "check_pixels", "check_readable",
    "handler_for", "register_format",
]  # fmt: skip
