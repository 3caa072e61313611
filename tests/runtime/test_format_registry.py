"""A new image format is one module plus its registration: here a read-only Netpbm gray reader (P5, 8-bit),
written as a test would write a plugin, read by `read_image` and restored to PNG by the Restorer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from effrestore.errors import ImageError
from effrestore.runtime import Restorer
from effrestore.runtime.imageformats import HANDLERS, ImageFormat, ImageInfo, check_pixels, register_format
from effrestore.runtime.io import read_image

from .._models import identity_model


class NetpbmGray(ImageFormat):
    """Binary PGM (P5) with 8-bit samples: header "P5 W H 255", then the rows."""

    reads: ClassVar[tuple[str, ...]] = (".pgm",)

    def read(self, path: Path, limit: int, first_frame: bool) -> tuple[np.ndarray, ImageInfo]:
        data = path.read_bytes()
        fields = data.split(maxsplit=4)
        if fields[0] != b"P5" or fields[3] != b"255":
            raise ImageError(f"{path}: not an 8-bit binary PGM")
        width, height = int(fields[1]), int(fields[2])
        check_pixels(path, height, width, limit)
        return np.frombuffer(fields[4], np.uint8, height * width).reshape(height, width), ImageInfo("pgm")


@pytest.fixture
def registered() -> Iterator[None]:
    register_format(NetpbmGray)
    yield
    del HANDLERS[".pgm"]


def test_a_registered_read_only_format_is_read_and_restored(registered: None, tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (24, 40), np.uint8)
    (tmp_path / "in.pgm").write_bytes(b"P5 40 24 255\n" + pixels.tobytes())
    array, info = read_image(tmp_path / "in.pgm")
    assert info.format == "pgm" and np.array_equal(array, pixels)
    restorer = Restorer.load(identity_model(tmp_path / "id.onnx", channels=1), tile="none")
    restorer.restore_file(tmp_path / "in.pgm", tmp_path / "out.png")
    assert np.array_equal(read_image(tmp_path / "out.png")[0], pixels)
    with pytest.raises(ImageError, match=r"unknown output format '\.pgm'"):
        restorer.restore_file(tmp_path / "in.pgm", tmp_path / "out.pgm")
