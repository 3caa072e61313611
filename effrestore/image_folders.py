"""Reading a folder of images for training and evaluation (torch-free): each file through the runtime's
guarded reader (decompression-bomb limit, EXIF orientation, typed errors), then as 8-bit RGB or luminance,
the form the standard training and evaluation protocols use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from effrestore.errors import ConfigError
from effrestore.runtime.formats import convert_depth
from effrestore.runtime.io import SUFFIXES, read_image

IMAGE_SUFFIXES = SUFFIXES - {".npy"}


def as_8bit(array: np.ndarray, channels: int) -> np.ndarray:
    """H×W×`channels` uint8 from a reader's array: 16-bit and float rounded to 8 bits, alpha dropped (the
    datasets are opaque), gray repeated to RGB, RGB to luminance by Pillow's ITU-R 601 weights."""
    array = convert_depth(array, 8)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] in (2, 4):
        array = array[..., :-1]
    if channels == 3 and array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if channels == 1 and array.shape[2] == 3:
        return np.asarray(Image.fromarray(array).convert("L"))[..., None]
    return np.ascontiguousarray(array)


def read_image_folder(
    folder: str | Path, channels: int, *, recursive: bool = False, limit: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """(name, H×W×channels uint8 array) for every image in `folder` (the first `limit` by name), as RGB (3)
    or luminance (1)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of images")
    files = sorted(
        p for p in (folder.rglob("*") if recursive else folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ConfigError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return [(path.stem, as_8bit(read_image(path)[0], channels)) for path in files[:limit]]
