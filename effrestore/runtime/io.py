"""Image reading and writing: PNG, JPEG, WebP, BMP (Pillow), TIFF incl. 16-bit and float (tifffile), .npy.

Reading applies the EXIF orientation, keeps the ICC profile and EXIF for the output, converts CMYK and
palette images to RGB(A), and keeps Pillow's decompression-bomb limit unless `max_pixels` raises it.
Writing is atomic (temporary file + rename in the target folder) and refuses to replace an existing file
unless `overwrite=True`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from effrestore._atomic import atomic_path
from effrestore.errors import ImageError
from effrestore.runtime.formats import FORMATS, check_output_path, check_storable, output_format
from effrestore.runtime.options import check_max_pixels

pillow_heif.register_heif_opener()  # HEIC/HEIF (phones' default format) through Pillow; AVIF is Pillow's own
PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".heic", ".heif", ".avif"}
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".webp", ".heic", ".heif", ".avif"}  # written at quality 95
TIFF_SUFFIXES = {".tif", ".tiff"}
SUFFIXES = PILLOW_SUFFIXES | TIFF_SUFFIXES | {".npy"}
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
BIGTIFF_ABOVE = 2**32 - 2**25  # bytes of pixels beyond which a classic TIFF's 32-bit offsets could overflow
_limit_lock = threading.Lock()


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


def read_image(
    path: str | Path, max_pixels: int | None = None, *, first_frame: bool = False
) -> tuple[np.ndarray, ImageInfo]:
    """(H×W or H×W×C array in its storage dtype, info) for the image at `path`. A file of several pages or
    frames is refused unless `first_frame` asks for the first."""
    path = Path(path)
    limit = pixel_limit(max_pixels)
    check_readable(path)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES or suffix == ".npy":
        from effrestore.runtime.sources import read_whole  # region readers, which build on this module

        return read_whole(path, limit, first_frame)
    return _read_pillow(path, limit, first_frame)


def pixel_limit(max_pixels: int | None) -> int:
    """The decompression-bomb guard: `max_pixels`, or Pillow's default limit."""
    return check_max_pixels(max_pixels) or DEFAULT_MAX_PIXELS


def one_frame(path: Path, frames: int, first_frame: bool, kind: str) -> None:
    if frames > 1 and not first_frame:
        raise ImageError(
            f"{path}: holds {frames} {kind}; effrestore restores one image per file: pass --first-frame to "
            "restore the first, or split the file"
        )


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


PNG_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt keyword of an XMP packet in PNG


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


def _upright_array(path: Path, image: Image.Image, array: np.ndarray) -> tuple[np.ndarray, bytes | None]:
    """`array` (pixels decoded outside Pillow) turned upright by `image`'s EXIF orientation, and the EXIF to
    keep (orientation reset, as `_upright` does)."""
    try:
        exif = image.getexif()
        orientation = exif.pop(0x0112, 1)
        return np.ascontiguousarray(ORIENT.get(orientation, lambda a: a)(array)), exif.tobytes() if exif else None
    except Exception as exc:  # malformed EXIF, as in `_upright`
        raise ImageError(f"{path}: its EXIF metadata is malformed ({type(exc).__name__}: {exc})") from None


STREAMED_SUFFIXES = TIFF_SUFFIXES | {".npy"}  # written block of rows by block as the restore finishes them
RowBlocks = Iterable[np.ndarray]


def write_image(path: str | Path, array: np.ndarray, info: ImageInfo | None = None, *, overwrite: bool = False) -> Path:
    """Writes atomically in the format given by the suffix, every sample kept (a format that cannot hold the
    array's depth or channels is refused, see `formats`); ICC/EXIF/DPI kept where the format allows."""
    path = Path(path)
    if path.suffix.lower() in STREAMED_SUFFIXES:
        return write_rows(path, array.shape, array.dtype, [array], info, overwrite=overwrite)
    check_output_path(path, overwrite=overwrite)
    check_storable(path, array.dtype, 1 if array.ndim == 2 else array.shape[2])
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    info = _storable(info or ImageInfo(), path)
    with _atomic_image(path, overwrite) as tmp:
        if path.suffix.lower() == ".png" and array.dtype == np.uint16:
            _write_png16(tmp, array, info)
        else:
            _write_pillow(tmp, path.suffix.lower(), array, info)
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
    """Writes a TIFF or .npy of `shape` atomically from `blocks`, consecutive row ranges in order, consumed
    as they come: an image of any height needs one block in memory."""
    path = Path(path)
    check_output_path(path, overwrite=overwrite)
    channels = 1 if len(shape) == 2 else shape[2]
    check_storable(path, dtype, channels)
    shape = tuple(shape[:2]) if channels == 1 else tuple(shape)
    info = _storable(info or ImageInfo(), path)
    with _atomic_image(path, overwrite) as tmp:
        if path.suffix.lower() == ".npy":
            _write_npy_rows(tmp, shape, np.dtype(dtype), blocks)
        else:
            _write_tiff_rows(tmp, shape, np.dtype(dtype), blocks, info)
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


def _row_bytes(blocks: RowBlocks, dtype: np.dtype, total: int) -> Iterator[bytes]:
    """The blocks' samples as bytes in `dtype`; the rows must add up to `total`."""
    rows = 0
    for block in blocks:
        rows += block.shape[0]
        yield np.ascontiguousarray(block, dtype).tobytes()
    if rows != total:
        raise ImageError(f"the restore produced {rows} rows where {total} were planned")


def _write_npy_rows(tmp: Path, shape: tuple[int, ...], dtype: np.dtype, blocks: RowBlocks) -> None:
    with tmp.open("wb") as handle:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(handle, header)
        for chunk in _row_bytes(blocks, dtype, shape[0]):
            handle.write(chunk)


def _write_tiff_rows(tmp: Path, shape: tuple[int, ...], dtype: np.dtype, blocks: RowBlocks, info: ImageInfo) -> None:
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
        writer.write(_row_bytes(blocks, dtype, shape[0]), shape=shape, dtype=dtype, **options)


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
    if info.gamma:
        chunks += _png_chunk(b"gAMA", struct.pack(">I", round(info.gamma * 100_000)))
    texts = {**info.text, **({PNG_XMP_KEY: info.xmp.decode("utf-8", "replace")} if info.xmp else {})}
    for key, value in texts.items():  # iTXt: keyword, no compression, no language, UTF-8 text
        chunks += _png_chunk(b"iTXt", key.encode("latin-1", "replace")[:79] + b"\0\0\0\0\0" + value.encode())
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
    if suffix == ".png":
        options["pnginfo"] = _png_text(info)
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
