"""Image reading and writing: PNG, JPEG, WebP, BMP (Pillow), TIFF incl. 16-bit and float (tifffile), .npy.

Reading applies the EXIF orientation, keeps the ICC profile and EXIF for the output, converts CMYK and
palette images to RGB(A), and keeps Pillow's decompression-bomb limit unless `max_pixels` raises it.
Writing is atomic (temporary file + rename in the target folder) and refuses to replace an existing file
unless `overwrite=True`.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from effrestore._atomic import atomic_path
from effrestore.errors import ImageError
from effrestore.runtime.options import check_max_pixels

PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
SUFFIXES = PILLOW_SUFFIXES | TIFF_SUFFIXES | {".npy"}
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
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


def _from_pillow(image: Image.Image) -> np.ndarray:
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("1", "L;16"):
        image = image.convert("L")
    elif image.mode == "LA":
        image = image.convert("RGBA")  # gray + alpha: kept as RGBA (gray in all three channels)
    elif image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    elif image.mode == "I":
        return np.asarray(image).astype(np.uint16)
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


def read_image(path: str | Path, max_pixels: int | None = None) -> tuple[np.ndarray, ImageInfo]:
    """(H×W or H×W×C array in its storage dtype, info) for the image at `path`."""
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
        try:
            array = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise ImageError(f"{path}: not a readable .npy array ({exc})") from None
        if array.ndim not in (2, 3) or array.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise ImageError(
                f"{path}: expected an H×W or H×W×C uint8/uint16/float array, got {array.dtype} {array.shape}"
            )
        _check_pixels(path, array.shape[0], array.shape[1], limit)
        return np.asarray(array, dtype=np.float32 if array.dtype == np.float64 else array.dtype), ImageInfo("npy")
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                _check_pixels(path, page.shape[0], page.shape[1], limit)
                array = page.asarray()
        except Exception as exc:  # tifffile raises several exception types for corrupt files
            raise ImageError(f"{path}: not a readable TIFF ({type(exc).__name__}: {exc})") from None
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        return array, ImageInfo("tiff")
    with _limit_lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
        try:
            with Image.open(path) as image:
                _check_pixels(path, image.height, image.width, limit)
                info = ImageInfo(image.format or suffix[1:], image.info.get("icc_profile"), None, image.info.get("dpi"))
                image, info.exif = _upright(path, image)
                array = _from_pillow(image)
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


def _to_pillow(array: np.ndarray, suffix: str) -> Image.Image:
    if array.dtype == np.float32:  # float data goes to 8-bit formats quantised and clipped
        array = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
    if array.dtype == np.uint16:
        if array.ndim == 2 and suffix == ".png":
            return Image.fromarray(array)  # mode I;16
        raise ImageError(
            f"16-bit {'colour ' if array.ndim == 3 else ''}output is not supported for {suffix}; "
            "write .tif (16-bit kept) or .npy"
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def write_image(path: str | Path, array: np.ndarray, info: ImageInfo | None = None, *, overwrite: bool = False) -> Path:
    """Writes atomically in the format given by the suffix; keeps ICC/EXIF/DPI where the format allows."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ImageError(f"{path}: unknown output format {suffix!r}; use one of {', '.join(sorted(SUFFIXES))}")
    if path.exists() and not overwrite:
        raise ImageError(f"{path}: already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise ImageError(f"{path.parent}: output folder does not exist")
    info = info or ImageInfo()
    try:
        with atomic_path(path, replace=overwrite) as tmp:
            if suffix == ".npy":
                with tmp.open("wb") as handle:
                    np.save(handle, array, allow_pickle=False)
            elif suffix in TIFF_SUFFIXES:
                import tifffile

                tifffile.imwrite(
                    tmp,
                    array,
                    photometric="rgb" if array.ndim == 3 and array.shape[2] >= 3 else "minisblack",
                    extrasamples=("unassalpha",) if array.ndim == 3 and array.shape[2] == 4 else None,
                )
            else:
                image = _to_pillow(array, suffix)
                if suffix in (".jpg", ".jpeg") and image.mode == "RGBA":
                    raise ImageError(f"{path}: JPEG has no alpha channel; write .png, .webp or .tif")
                options: dict = {"format": {".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix, suffix[1:].upper())}
                if info.icc_profile:
                    options["icc_profile"] = info.icc_profile
                if info.exif and suffix in (".jpg", ".jpeg", ".png", ".webp"):
                    options["exif"] = info.exif
                if info.dpi:
                    options["dpi"] = info.dpi
                if suffix in (".jpg", ".jpeg", ".webp"):
                    options["quality"] = 95
                image.save(tmp, **options)
    except PermissionError as exc:
        raise ImageError(f"{path}: cannot write here ({exc.strerror}); choose another output folder") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot write ({exc})") from None
    return path
