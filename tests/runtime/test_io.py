"""Image formats round trip; bad files give clear errors and leave nothing behind."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from effrestore.errors import ImageError
from effrestore.runtime.io import read_image, write_image

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("suffix", "array"),
    [
        (".png", RNG.integers(0, 256, (31, 17, 3), dtype=np.uint8)),
        (".png", RNG.integers(0, 256, (31, 17, 4), dtype=np.uint8)),
        (".png", RNG.integers(0, 256, (31, 17), dtype=np.uint8)),
        (".png", RNG.integers(0, 65536, (31, 17), dtype=np.uint16)),
        (".tif", RNG.integers(0, 65536, (31, 17, 3), dtype=np.uint16)),
        (".tif", RNG.integers(0, 256, (31, 17, 3), dtype=np.uint8)),
        (".tif", RNG.random((31, 17, 3), dtype=np.float32)),
        (".tif", RNG.integers(0, 65536, (31, 17, 4), dtype=np.uint16)),
        (".bmp", RNG.integers(0, 256, (31, 17, 3), dtype=np.uint8)),
        (".webp", RNG.integers(0, 256, (31, 17, 3), dtype=np.uint8)),
        (".npy", RNG.random((31, 17, 3), dtype=np.float32)),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.dtype}-{'x'.join(map(str, v.shape))}",
)
def test_lossless_round_trips(tmp_path: Path, suffix: str, array: np.ndarray) -> None:
    path = tmp_path / f"image{suffix}"
    if suffix == ".webp":
        Image.fromarray(array).save(path, lossless=True)
    else:
        write_image(path, array)
    back, _ = read_image(path)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_jpeg_exif_rotation_and_icc(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    src = tmp_path / "in.jpg"
    Image.fromarray(pixels).save(src, exif=exif, icc_profile=icc, quality=100)
    array, info = read_image(src)
    assert array.shape == (40, 20, 3)  # orientation applied
    assert array[:5].mean() > 200 and array[-5:].mean() < 50
    assert info.icc_profile == icc
    out = write_image(tmp_path / "out.png", array, info)
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == icc


def test_cmyk_jpeg_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(path)
    array, _ = read_image(path)
    assert array.shape == (8, 16, 3) and array[..., 0].mean() > 200 and array[..., 1].mean() < 60


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"hello, I am text", "cannot read"), ("truncated", "corrupt or truncated")],
)
def test_bad_files(tmp_path: Path, content: bytes | str, message: str) -> None:
    path = tmp_path / "bad.png"
    if content == "truncated":
        buffer = io.BytesIO()
        Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
        content = buffer.getvalue()[:300]
    path.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match=message):
        read_image(path)


def test_pixel_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (200, 100)).save(path)
    with pytest.raises(ImageError, match="--max-pixels"):
        read_image(path, max_pixels=10_000)
    assert read_image(path, max_pixels=20_000)[0].shape == (100, 200)


def test_existing_output_and_unwritable_folder(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    with pytest.raises(ImageError, match="--overwrite"):
        write_image(target, np.zeros((4, 4), np.uint8))
    assert target.read_bytes() == b"keep me"
    with pytest.raises(ImageError, match="cannot write"):
        write_image(Path("/proc/effrestore-out.png"), np.zeros((4, 4), np.uint8))  # unwritable, even for root
