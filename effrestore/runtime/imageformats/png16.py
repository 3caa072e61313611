"""16-bit PNG through imagecodecs (libpng): Pillow reads 16-bit colour PNGs as 8-bit and cannot write them,
so these samples take this path both ways; the metadata chunks are written beside libpng's pixels."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from effrestore.errors import ImageError
from effrestore.runtime.imageformats.base import ImageInfo

PNG_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt keyword of an XMP packet in PNG
# zlib level of every PNG written (8 and 16 bits). Restored photos barely compress: a restored 3840×2160 RGB
# photo took 3.20 s at level 6 (the libraries' default) and 1.02 s at level 3, for 5 % more bytes
# (benchmarks/end_to_end.py: PNG encoding was 10 % of a default 4K run at level 6).
PNG_COMPRESSION_LEVEL = 3


def png_bit_depth(path: Path) -> int:
    """The bit depth in a PNG's IHDR (byte 24): Pillow reads 16-bit colour PNGs as 8-bit, so these go
    through imagecodecs (libpng), which keeps every bit."""
    with path.open("rb") as handle:
        head = handle.read(25)
    return head[24] if len(head) == 25 else 8


def decode_png16(path: Path) -> np.ndarray:
    import imagecodecs

    try:
        return imagecodecs.png_decode(path.read_bytes())
    except imagecodecs.PngError as exc:
        raise ImageError(f"{path}: the image is corrupt or truncated ({exc})") from None


def write_png16(tmp: Path, array: np.ndarray, info: ImageInfo) -> None:
    """16-bit PNG through imagecodecs (Pillow cannot write 16-bit colour), metadata chunks added after IHDR."""
    import imagecodecs

    encoded = imagecodecs.png_encode(np.ascontiguousarray(array), level=PNG_COMPRESSION_LEVEL)
    chunks = b""
    if info.icc_profile:
        chunks += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(info.icc_profile))
    if info.exif:
        exif = info.exif[6:] if info.exif.startswith(b"Exif\x00\x00") else info.exif
        chunks += _png_chunk(b"eXIf", exif)
    if info.dpi:
        per_metre = [round(float(d) / 0.0254) for d in info.dpi]
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    if info.gamma:
        chunks += _png_chunk(b"gAMA", struct.pack(">I", round(info.gamma * 100_000)))
    texts = {**info.text, **({PNG_XMP_KEY: info.xmp.decode("utf-8", "replace")} if info.xmp else {})}
    for key, value in texts.items():  # iTXt: keyword, no compression, no language, UTF-8 text
        chunks += _png_chunk(b"iTXt", key.encode("latin-1", "replace")[:79] + b"\0\0\0\0\0" + value.encode())
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, body, CRC
    tmp.write_bytes(encoded[:ihdr_end] + chunks + encoded[ihdr_end:])


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
