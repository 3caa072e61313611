"""Reading a folder of images for training and evaluation (torch-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from effrestore.errors import ConfigError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def read_image_folder(folder: str | Path, channels: int, *, recursive: bool = False) -> list[tuple[str, np.ndarray]]:
    """(name, H×W×channels uint8 array) for every image in `folder`, as RGB (3) or luminance (1)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of images")
    files = sorted(
        p for p in (folder.rglob("*") if recursive else folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ConfigError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                array = np.asarray(img.convert("RGB" if channels == 3 else "L"))
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"{path}: cannot read this image ({exc}); remove or replace it") from None
        images.append((path.stem, array[..., None] if array.ndim == 2 else array))
    return images
