"""What each output format can hold (sample types, channel counts, metadata), and the checks that use it
before any work: an output that would lose depth, alpha or channels is refused with the formats that keep
them, and depth is changed only when the user asks (`--output-depth`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from effrestore._atomic import check_target
from effrestore.errors import ImageError
from effrestore.runtime.imageformats import FORMATS, Format

DEPTHS = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16)}


def output_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ImageError(f"{path}: unknown output format {suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def check_output_path(path: Path, *, overwrite: bool) -> None:
    """Everything about an output image path that can be known before reading the input: format, folder,
    name."""
    check_target(path, overwrite=overwrite, error=ImageError, check=lambda: output_format(path))


def output_dtype(dtype: np.dtype, depth: int | None) -> np.dtype:
    """The sample type written: the input's, or the one `depth` (8, 16) asks for."""
    return np.dtype(dtype) if depth is None else DEPTHS[depth]


def check_storable(path: Path, dtype: np.dtype, channels: int) -> None:
    """Refuses an output whose format would narrow the samples or drop channels, naming what would work."""
    fmt = output_format(path)
    if np.dtype(dtype).name not in fmt.dtypes:
        holding = sorted({s for s, f in FORMATS.items() if np.dtype(dtype).name in f.dtypes and s != ".tiff"})
        raise ImageError(
            f"{path}: {fmt.name} cannot hold {_depth_words(dtype)} samples; write {', '.join(holding)} to keep "
            "them, or pass --output-depth 8" + (" or 16" if np.dtype(dtype).kind == "f" else "") + " to convert"
        )
    if channels not in fmt.channels:
        holding = sorted({s for s, f in FORMATS.items() if channels in f.channels and s not in (".tiff", ".jpeg")})
        raise ImageError(
            f"{path}: {fmt.name} cannot hold {_channel_words(channels)}; write {', '.join(holding)} instead"
        )


def convert_depth(array: np.ndarray, depth: int | None) -> np.ndarray:
    """`array` at `depth` bits (rounded, clipped), or unchanged without one."""
    if depth is None or array.dtype == DEPTHS[depth]:
        return array
    peak = float(np.iinfo(DEPTHS[depth]).max)
    scale = 1.0 if array.dtype.kind == "f" else float(np.iinfo(array.dtype).max)
    return np.clip(np.round(array.astype(np.float32) * (peak / scale)), 0, peak).astype(DEPTHS[depth])


def _depth_words(dtype: np.dtype) -> str:
    return {"uint16": "16-bit", "float32": "floating-point"}.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _channel_words(channels: int) -> str:
    return {2: "gray with alpha", 4: "RGB with alpha"}.get(channels, f"{channels}-channel images")
