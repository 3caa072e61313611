"""PNG, JPEG, WebP, BMP, HEIF and AVIF through Pillow (pillow-heif for HEIF): decoded and written whole.

Reading applies the EXIF orientation, keeps the ICC profile, EXIF, DPI, XMP, gamma and text for the output,
converts CMYK and palette images to RGB(A), and keeps Pillow's decompression-bomb limit unless the caller
raises it. 16-bit PNGs go through `png16`.
"""

from __future__ import annotations

import struct
import threading
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from effrestore.errors import ImageError
from effrestore.runtime.imageformats.base import ORIENT, Format, ImageFormat, ImageInfo, check_pixels, one_frame
from effrestore.runtime.imageformats.png16 import (
    PNG_COMPRESSION_LEVEL,
    PNG_XMP_KEY,
    decode_png16,
    png_bit_depth,
    write_png16,
)
from effrestore.runtime.imageformats.registry import register_format

pillow_heif.register_heif_opener()  # HEIC/HEIF (phones' default format) through Pillow; AVIF is Pillow's own
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".webp", ".heic", ".heif", ".avif"}  # written at quality 95
_PER_METRE = 0.0254  # PNG and BMP store pixels per metre: whole numbers of 32 bits (BMP: signed)
_limit_lock = threading.Lock()  # Pillow's pixel limit is process-wide: one reader changes it at a time
_JPEG = Format("JPEG", ("uint8",), (1, 3), ("icc", "exif", "dpi", "xmp"), 2**16 - 1)
_HEIF = Format("HEIF", ("uint8",), (1, 3, 4), ("icc", "exif"))


def _from_pillow(path: Path, image: Image.Image) -> np.ndarray:
    """The pixels of an 8-bit (or 16-bit gray) Pillow image as gray, gray+alpha, RGB or RGBA, keeping
    every sample: CMYK and other colour spaces to RGB, palettes to RGB(A), gray+alpha as two channels, a
    transparent colour key as alpha."""
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode == "PA" else "RGB")
    elif image.mode in ("RGB", "L") and "transparency" in image.info:  # a colour key (PNG tRNS) is alpha
        image = image.convert("RGBA" if image.mode == "RGB" else "LA")
    elif image.mode in ("1", "L;16"):
        image = image.convert("L")
    elif image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    elif image.mode == "I":
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 65535:
            raise ImageError(f"{path}: 32-bit integer pixels outside 0..65535; convert the image to 16 bits")
        return array.astype(np.uint16)
    elif image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    return np.asarray(image)


def _upright(path: Path, image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """The image turned upright by its EXIF orientation, and the EXIF to keep; malformed EXIF is this
    file's error (never a crash of the batch it is in)."""
    try:
        image = ImageOps.exif_transpose(image)
        exif = image.getexif()
        return image, exif.tobytes() if exif else None
    except OSError:
        raise  # truncated pixel data, reported as such by the caller
    except Exception as exc:  # Pillow raises struct.error, TypeError, KeyError... for malformed EXIF
        raise ImageError(
            f"{path}: its EXIF metadata is malformed ({type(exc).__name__}: {exc}); remove it (e.g. "
            "`exiftool -all= FILE`) or re-save the image"
        ) from None


def _read_pillow(path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
    suffix = path.suffix.lower()
    with _limit_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
        try:
            with Image.open(path) as image:
                check_pixels(path, image.height, image.width, limit)
                previews = _mpo_previews(image)
                one_frame(path, getattr(image, "n_frames", 1) - previews, first_frame, "frames")
                info = ImageInfo(image.format or suffix[1:], image.info.get("icc_profile"), None, image.info.get("dpi"))
                info.previews = previews
                _pillow_metadata(image, info)
                if image.format == "PNG" and png_bit_depth(path) == 16:
                    array, info.exif = _upright_array(path, image, decode_png16(path))
                else:
                    image, info.exif = _upright(path, image)
                    array = _from_pillow(path, image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{path}: more pixels than the limit of {limit:,} (a guard against decompression bombs); raise "
                "it with --max-pixels if you trust this file"
            ) from None
        except UnidentifiedImageError as exc:
            raise ImageError(f"{path}: cannot read this image ({exc})") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"{path}: the image is corrupt or truncated ({exc})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    return array, info


def _pillow_metadata(image: Image.Image, info: ImageInfo) -> None:
    """XMP, gamma and text fields as Pillow reports them (PNG: text chunks, gAMA; JPEG and WebP: XMP)."""
    text = {k: str(v) for k, v in getattr(image, "text", {}).items()} if image.format == "PNG" else {}
    xmp = text.pop(PNG_XMP_KEY, None)
    info.xmp = xmp.encode() if xmp is not None else image.info.get("xmp") or None
    info.gamma = image.info.get("gamma") if image.format == "PNG" else None
    info.text = text


def _mpo_previews(image: Image.Image) -> int:
    """How many of an MPO file's images are previews of the first (the Multi-Picture Format's "large
    thumbnail" types, which cameras add beside the photo), not images of their own (stereo, panorama)."""
    if image.format != "MPO":
        return 0
    entries = getattr(image, "mpinfo", {}).get(0xB002, [])
    return sum("Thumbnail" in str(entry.get("Attribute", {}).get("MPType", "")) for entry in entries)


def _upright_array(path: Path, image: Image.Image, array: np.ndarray) -> tuple[np.ndarray, bytes | None]:
    """`array` (pixels decoded outside Pillow) turned upright by `image`'s EXIF orientation, and the EXIF to
    keep (orientation reset, as `_upright` does)."""
    try:
        exif = image.getexif()
        orientation = exif.pop(0x0112, 1)
        return np.ascontiguousarray(ORIENT.get(orientation, lambda a: a)(array)), exif.tobytes() if exif else None
    except Exception as exc:  # malformed EXIF, as in `_upright`
        raise ImageError(f"{path}: its EXIF metadata is malformed ({type(exc).__name__}: {exc})") from None


def _write_pillow(tmp: Path, suffix: str, array: np.ndarray, info: ImageInfo) -> None:
    image = Image.fromarray(array)
    options: dict[str, Any] = {"format": Pillow.formats[suffix].name.upper()}
    keeps = Pillow.formats[suffix].keeps
    if info.icc_profile and "icc" in keeps:
        options["icc_profile"] = info.icc_profile
    if info.exif and "exif" in keeps:
        options["exif"] = info.exif
    if info.dpi and "dpi" in keeps:
        options["dpi"] = info.dpi
    if suffix == ".png":
        options["pnginfo"] = _png_text(info)
        options["compress_level"] = PNG_COMPRESSION_LEVEL
    elif info.xmp and "xmp" in keeps:
        options["xmp"] = info.xmp
    if suffix in LOSSY_SUFFIXES:
        options["quality"] = 95
    image.save(tmp, **options)


def _png_text(info: ImageInfo) -> PngImagePlugin.PngInfo:
    """Text fields, the XMP packet (as iTXt) and gamma for Pillow's PNG writer."""
    chunks = PngImagePlugin.PngInfo()
    for key, value in info.text.items():
        chunks.add_itxt(key, value)
    if info.xmp:
        chunks.add_itxt(PNG_XMP_KEY, info.xmp.decode("utf-8", "replace"))
    if info.gamma:
        chunks.add(b"gAMA", struct.pack(">I", round(info.gamma * 100_000)))
    return chunks


@register_format
class Pillow(ImageFormat):
    formats: ClassVar[dict[str, Format]] = {
        ".png": Format(
            "PNG",
            ("uint8", "uint16"),
            (1, 2, 3, 4),
            ("icc", "exif", "dpi", "xmp", "gamma", "text"),
            (2**32 - 1) * _PER_METRE,
        ),
        ".jpg": _JPEG,
        ".jpeg": _JPEG,
        ".webp": Format("WebP", ("uint8",), (1, 2, 3, 4), ("icc", "exif", "xmp")),  # gray is stored as RGB
        ".bmp": Format("BMP", ("uint8",), (1, 3), ("dpi",), (2**31 - 1) * _PER_METRE),
        ".heic": _HEIF,
        ".heif": _HEIF,
        ".avif": Format("AVIF", ("uint8",), (1, 3, 4), ("icc", "exif")),
    }

    def read(self, path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
        return _read_pillow(path, limit, first_frame)

    def write(self, tmp: Path, suffix: str, array: np.ndarray, info: ImageInfo) -> None:
        if suffix == ".png" and array.dtype == np.uint16:
            write_png16(tmp, array, info)
        else:
            _write_pillow(tmp, suffix, array, info)
