"""Image reading and writing: PNG, JPEG, WebP, BMP (Pillow), TIFF incl. 16-bit and float (tifffile), .npy.

Reading applies the EXIF orientation, keeps the ICC profile and EXIF for the output, converts CMYK and
palette images to RGB(A), and keeps Pillow's decompression-bomb limit unless `max_pixels` raises it.
Writing is atomic (temporary file + rename in the target folder) and refuses to replace an existing file
unless `overwrite=True`.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from effrestore._atomic import atomic_path
from effrestore.errors import ImageError
from effrestore.runtime.formats import FORMATS, check_output_path, check_storable, output_format
from effrestore.runtime.options import check_max_pixels

PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
SUFFIXES = PILLOW_SUFFIXES | TIFF_SUFFIXES | {".npy"}
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
BIGTIFF_ABOVE = 2**32 - 2**25  # bytes of pixels beyond which a classic TIFF's 32-bit offsets could overflow
_limit_lock = threading.Lock()


@dataclass
class ImageInfo:
    """What is carried from input to output: ICC profile, EXIF bytes (orientation already applied), DPI."""

    format: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)


def _check_pixels(path: Path, height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise ImageError(
            f"{path}: {width}×{height} = {height * width:,} pixels exceeds the limit of {max_pixels:,} "
            "(a guard against decompression bombs); raise it with --max-pixels if you trust this file"
        )


def _from_pillow(path: Path, image: Image.Image) -> np.ndarray:
    """The pixels of an 8-bit (or 16-bit gray) Pillow image as gray, gray+alpha, RGB or RGBA, keeping
    every sample: CMYK and other colour spaces to RGB, palettes to RGB(A), gray+alpha as two channels."""
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode == "PA" else "RGB")
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


def read_image(
    path: str | Path, max_pixels: int | None = None, *, first_frame: bool = False
) -> tuple[np.ndarray, ImageInfo]:
    """(H×W or H×W×C array in its storage dtype, info) for the image at `path`. A file of several pages or
    frames is refused unless `first_frame` asks for the first."""
    path = Path(path)
    limit = check_max_pixels(max_pixels) or DEFAULT_MAX_PIXELS
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: cannot read it (permission denied); check the file's permissions")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path, limit)
    if suffix in TIFF_SUFFIXES:
        return _read_tiff(path, limit, first_frame)
    return _read_pillow(path, limit, first_frame)


def _read_npy(path: Path, limit: int) -> tuple[np.ndarray, ImageInfo]:
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise ImageError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim not in (2, 3) or array.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ImageError(f"{path}: expected an H×W or H×W×C uint8/uint16/float array, got {array.dtype} {array.shape}")
    _check_pixels(path, array.shape[0], array.shape[1], limit)
    return np.asarray(array, dtype=np.float32 if array.dtype == np.float64 else array.dtype), ImageInfo("npy")


def _one_frame(path: Path, frames: int, first_frame: bool, kind: str) -> None:
    if frames > 1 and not first_frame:
        raise ImageError(
            f"{path}: holds {frames} {kind}; effrestore restores one image per file: pass --first-frame to "
            "restore the first, or split the file"
        )


def _read_tiff(path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            _one_frame(path, len(tif.pages), first_frame, "pages")
            page = tif.pages.first
            _check_pixels(path, page.imagelength, page.imagewidth, limit)
            array = tiff_pixels(path, page)
            info = ImageInfo("tiff", _tag(page, 34675), None, tiff_dpi(page))
    except ImageError:
        raise
    except Exception as exc:  # tifffile raises several exception types for corrupt files
        raise ImageError(f"{path}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
    return array, info


def tiff_pixels(path: Path, page: Any) -> np.ndarray:
    """A TIFF page's pixels as gray, gray+alpha, RGB or RGBA: palettes through their colour map, CMYK
    converted to RGB (alpha kept), white-is-zero inverted; other colour spaces refused."""
    import tifffile

    photometric = tifffile.PHOTOMETRIC
    array = page.asarray()
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    kind = page.photometric
    if kind == photometric.PALETTE:
        colors = np.asarray(page.colormap).T  # (entries, 3), 16-bit
        rgb = colors[array]
        eight_bit = not (rgb % 257).any()
        return (rgb // 257).astype(np.uint8) if eight_bit else rgb.astype(np.uint16)
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
    return array


def _tag(page: Any, code: int) -> Any:
    tag = page.tags.get(code)
    return None if tag is None else tag.value


def tiff_dpi(page: Any) -> tuple[float, float] | None:
    """Pixels per inch from a page's resolution tags (None when absent or without a unit)."""
    x, y, unit = _tag(page, 282), _tag(page, 283), _tag(page, 296)
    if not x or not y or unit not in (2, 3) or not x[1] or not y[1]:
        return None
    per_inch = 1.0 if unit == 2 else 2.54
    return (x[0] / x[1] * per_inch, y[0] / y[1] * per_inch)


def _read_pillow(path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
    suffix = path.suffix.lower()
    with _limit_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
        try:
            with Image.open(path) as image:
                _check_pixels(path, image.height, image.width, limit)
                _one_frame(path, getattr(image, "n_frames", 1), first_frame, "frames")
                info = ImageInfo(image.format or suffix[1:], image.info.get("icc_profile"), None, image.info.get("dpi"))
                if image.format == "PNG" and png_bit_depth(path) == 16:
                    array, info.exif = _upright_array(path, image, _png16_pixels(path))
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


def png_bit_depth(path: Path) -> int:
    """The bit depth in a PNG's IHDR (byte 24): Pillow reads 16-bit colour PNGs as 8-bit, so these go
    through imagecodecs (libpng), which keeps every bit."""
    with path.open("rb") as handle:
        head = handle.read(25)
    return head[24] if len(head) == 25 else 8


def _png16_pixels(path: Path) -> np.ndarray:
    import imagecodecs

    try:
        return imagecodecs.png_decode(path.read_bytes())
    except imagecodecs.PngError as exc:
        raise ImageError(f"{path}: the image is corrupt or truncated ({exc})") from None


_ORIENT = {  # EXIF orientation -> the array operation that makes the image upright (as ImageOps.exif_transpose)
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _upright_array(path: Path, image: Image.Image, array: np.ndarray) -> tuple[np.ndarray, bytes | None]:
    """`array` (pixels decoded outside Pillow) turned upright by `image`'s EXIF orientation, and the EXIF to
    keep (orientation reset, as `_upright` does)."""
    try:
        exif = image.getexif()
        orientation = exif.pop(0x0112, 1)
        return np.ascontiguousarray(_ORIENT.get(orientation, lambda a: a)(array)), exif.tobytes() if exif else None
    except Exception as exc:  # malformed EXIF, as in `_upright`
        raise ImageError(f"{path}: its EXIF metadata is malformed ({type(exc).__name__}: {exc})") from None


def write_image(path: str | Path, array: np.ndarray, info: ImageInfo | None = None, *, overwrite: bool = False) -> Path:
    """Writes atomically in the format given by the suffix, every sample kept (a format that cannot hold the
    array's depth or channels is refused, see `formats`); ICC/EXIF/DPI kept where the format allows."""
    path = Path(path)
    check_output_path(path, overwrite=overwrite)
    check_storable(path, array.dtype, 1 if array.ndim == 2 else array.shape[2])
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    info = info or ImageInfo()
    suffix = path.suffix.lower()
    try:
        with atomic_path(path, replace=overwrite) as tmp:
            if suffix == ".npy":
                with tmp.open("wb") as handle:
                    np.save(handle, array, allow_pickle=False)
            elif suffix in TIFF_SUFFIXES:
                _write_tiff(tmp, array, info)
            elif suffix == ".png" and array.dtype == np.uint16:
                _write_png16(tmp, array, info)
            else:
                _write_pillow(tmp, suffix, array, info)
    except PermissionError as exc:
        raise ImageError(f"{path}: cannot write here ({exc.strerror}); choose another output folder") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot write ({exc})") from None
    return path


def _write_tiff(tmp: Path, array: np.ndarray, info: ImageInfo) -> None:
    import tifffile

    channels = 1 if array.ndim == 2 else array.shape[2]
    options: dict[str, Any] = {
        "photometric": "rgb" if channels >= 3 else "minisblack",
        "planarconfig": "contig" if channels > 1 else None,
        "extrasamples": ("unassalpha",) if channels in (2, 4) else None,
        "iccprofile": info.icc_profile,
        "metadata": None,
    }
    if info.dpi:
        options.update(resolution=tuple(float(d) for d in info.dpi), resolutionunit="INCH")
    tifffile.imwrite(tmp, array, bigtiff=array.nbytes > BIGTIFF_ABOVE, **options)


def _write_png16(tmp: Path, array: np.ndarray, info: ImageInfo) -> None:
    """16-bit PNG through imagecodecs (Pillow cannot write 16-bit colour), metadata chunks added after IHDR."""
    import imagecodecs

    encoded = imagecodecs.png_encode(np.ascontiguousarray(array), level=6)
    chunks = b""
    if info.icc_profile:
        chunks += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(info.icc_profile))
    if info.exif:
        exif = info.exif[6:] if info.exif.startswith(b"Exif\x00\x00") else info.exif
        chunks += _png_chunk(b"eXIf", exif)
    if info.dpi:
        per_metre = [round(float(d) / 0.0254) for d in info.dpi]
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1))
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, body, CRC
    tmp.write_bytes(encoded[:ihdr_end] + chunks + encoded[ihdr_end:])


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _write_pillow(tmp: Path, suffix: str, array: np.ndarray, info: ImageInfo) -> None:
    image = Image.fromarray(array)
    options: dict[str, Any] = {"format": FORMATS[suffix].name.upper()}
    keeps = FORMATS[suffix].keeps
    if info.icc_profile and "icc" in keeps:
        options["icc_profile"] = info.icc_profile
    if info.exif and "exif" in keeps:
        options["exif"] = info.exif
    if info.dpi and "dpi" in keeps:
        options["dpi"] = info.dpi
    if suffix in (".jpg", ".jpeg", ".webp"):
        options["quality"] = 95
    image.save(tmp, **options)


def dropped_metadata(info: ImageInfo, path: Path) -> list[str]:
    """The metadata `info` holds that the format of `path` cannot keep (for a note to the user)."""
    keeps = output_format(path).keeps
    held = {"icc": info.icc_profile, "exif": info.exif, "dpi": info.dpi}
    return [{"icc": "ICC profile", "exif": "EXIF", "dpi": "DPI"}[k] for k, v in held.items() if v and k not in keeps]
