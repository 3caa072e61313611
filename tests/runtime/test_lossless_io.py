"""Nothing lost on the way in or out: 16-bit depth on every read path (checked against a second decoder),
channels back as they came, output problems refused before any work, formats converted correctly or
refused, metadata kept where the format holds it. Files through the real CLI in subprocesses."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import imagecodecs
import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageOps

from effrestore.errors import ImageError
from effrestore.runtime.imageformats import ORIENT
from effrestore.runtime.io import ImageInfo, read_image, write_image

from .._models import identity_model

RNG = np.random.default_rng(7)
SHAPES = {"gray": (21, 17), "gray+alpha": (21, 17, 2), "rgb": (21, 17, 3), "rgba": (21, 17, 4)}


def sixteen_bit(shape: tuple[int, ...]) -> np.ndarray:
    """Random 16-bit samples that are not all multiples of 257 (an 8-bit image widened would be)."""
    array = RNG.integers(0, 65536, shape, dtype=np.uint16)
    array.flat[0] = 1
    return array


def pypng_decode(path: Path) -> np.ndarray:
    """The reference decode: pypng, a second PNG implementation."""
    width, height, rows, meta = png.Reader(filename=str(path)).asDirect()
    planes = meta["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    return array[..., 0] if planes == 1 else array


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    identity_model(tmp_path / "id.onnx")
    identity_model(tmp_path / "id-gray.onnx", channels=1)
    return tmp_path


@pytest.mark.parametrize("layout", SHAPES)
def test_16_bit_png_round_trip_keeps_every_bit(tmp_path: Path, layout: str) -> None:
    array = sixteen_bit(SHAPES[layout])
    path = write_image(tmp_path / "x.png", array)
    assert np.array_equal(pypng_decode(path), array), "the written file holds every sample"
    read, _ = read_image(path)
    assert read.dtype == np.uint16 and np.array_equal(read, array)


@pytest.mark.parametrize("layout", SHAPES)
def test_16_bit_tiff_round_trip_keeps_every_bit(tmp_path: Path, layout: str) -> None:
    array = sixteen_bit(SHAPES[layout])
    path = write_image(tmp_path / "x.tif", array)
    assert np.array_equal(tifffile.imread(path), array)
    read, _ = read_image(path)
    assert read.dtype == np.uint16 and np.array_equal(read, array)


@pytest.mark.parametrize(
    ("suffix", "array"),
    [
        (".png", RNG.integers(0, 256, (9, 8, 3), dtype=np.uint8)),
        (".png", RNG.integers(0, 256, (9, 8, 2), dtype=np.uint8)),
        (".bmp", RNG.integers(0, 256, (9, 8), dtype=np.uint8)),
        (".tif", RNG.random((9, 8, 3), dtype=np.float32)),
        (".npy", RNG.random((9, 8), dtype=np.float32)),
    ],
)
def test_every_read_path_decodes_the_files_depth(tmp_path: Path, suffix: str, array: np.ndarray) -> None:
    path = write_image(tmp_path / f"x{suffix}", array)
    read, _ = read_image(path)
    assert read.dtype == array.dtype and np.array_equal(read, array)


def test_a_16_bit_png_from_another_encoder_is_read_whole(tmp_path: Path) -> None:
    array = sixteen_bit((13, 11, 3))
    with (tmp_path / "x.png").open("wb") as handle:
        png.Writer(11, 13, greyscale=False, bitdepth=16).write(handle, array.reshape(13, -1).tolist())
    read, _ = read_image(tmp_path / "x.png")
    assert np.array_equal(read, array)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_16_bit_pixels_matches_pillow(orientation: int) -> None:
    eight = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = Image.fromarray(eight)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    assert np.array_equal(ORIENT.get(orientation, lambda a: a)(eight), expected)


def test_16_bit_png_keeps_icc_exif_and_dpi(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "effrestore test camera"
    info = ImageInfo("PNG", b"fake icc profile bytes", exif.tobytes(), (300.0, 300.0))
    path = write_image(tmp_path / "x.png", sixteen_bit((6, 5, 3)), info)
    read, back = read_image(path)
    assert read.dtype == np.uint16
    assert back.icc_profile == info.icc_profile and back.dpi is not None and round(back.dpi[0]) == 300
    assert Image.Exif().load(back.exif) is None or "effrestore test camera" in str(back.exif)


def test_tiff_keeps_icc_and_dpi(tmp_path: Path) -> None:
    info = ImageInfo("tiff", b"fake icc profile bytes", None, (240.0, 120.0))
    path = write_image(tmp_path / "x.tif", sixteen_bit((6, 5, 3)), info)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.tags[34675].value == info.icc_profile
    _, back = read_image(path)
    assert back.icc_profile == info.icc_profile and back.dpi == pytest.approx((240.0, 120.0))


def test_restoring_16_bit_keeps_the_values(folder: Path) -> None:
    array = sixteen_bit((24, 32, 3))
    (folder / "in.png").write_bytes(imagecodecs.png_encode(array))
    result = cli("run", "in.png", "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    out = pypng_decode(folder / "out.png")
    assert out.dtype == np.uint16 and (out % 257).any(), "not an 8-bit image widened"
    assert np.array_equal(out, array)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_in_gray_out_through_a_colour_model(folder: Path, dtype: type) -> None:
    gray = RNG.integers(0, np.iinfo(dtype).max + 1, (24, 32), dtype=dtype)
    write_image(folder / "gray.png", gray)
    result = cli("run", "gray.png", "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    out, _ = read_image(folder / "out.png")
    assert out.shape == gray.shape and out.dtype == dtype and np.array_equal(out, gray)
    kept = cli("run", "gray.png", "-o", "rgb.png", "--model", "id.onnx", "--keep-color", cwd=folder)
    assert kept.returncode == 0, kept.stderr
    rgb, _ = read_image(folder / "rgb.png")
    assert rgb.shape == (*gray.shape, 3) and np.array_equal(rgb[..., 1], gray)


def test_gray_with_alpha_comes_back_gray_with_alpha(folder: Path) -> None:
    pixels = sixteen_bit((16, 24, 2))
    write_image(folder / "ga.png", pixels)
    result = cli("run", "ga.png", "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(pypng_decode(folder / "out.png"), pixels)


@pytest.mark.parametrize(
    ("source", "output", "fragment"),
    [
        ("in16.png", "out.txt", "unknown output format"),
        ("in16.png", "out.jpg", "--output-depth 8"),
        ("rgba.png", "out.jpg", "cannot hold RGB with alpha"),
        ("rgba.png", "out.bmp", "cannot hold RGB with alpha"),
        ("float.tif", "out.png", "floating-point"),
        ("in16.png", "sub", "is a folder"),
        ("in16.png", "missing/out.png", "does not exist"),
        ("in16.png", "n" * 252 + ".png", "longer than 255 bytes"),
    ],
)
def test_output_problems_are_refused_before_any_work(folder: Path, source: str, output: str, fragment: str) -> None:
    (folder / "in16.png").write_bytes(imagecodecs.png_encode(sixteen_bit((16, 16, 3))))
    write_image(folder / "rgba.png", RNG.integers(0, 256, (16, 16, 4), dtype=np.uint8))
    write_image(folder / "float.tif", RNG.random((16, 16, 3), dtype=np.float32))
    (folder / "sub").mkdir()
    result = cli("run", source, "-o", output, "--model", "id.onnx", cwd=folder)
    assert result.returncode == 2 and fragment in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not [p for p in folder.iterdir() if p.name.startswith("out") or p.name.endswith(".partial")]


def test_depth_is_converted_only_when_asked(folder: Path) -> None:
    array = sixteen_bit((16, 16, 3))
    (folder / "in16.png").write_bytes(imagecodecs.png_encode(array))
    result = cli("run", "in16.png", "-o", "out.jpg", "--model", "id.onnx", "--output-depth", "8", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert Image.open(folder / "out.jpg").mode == "RGB"
    wide = cli("run", "in16.png", "-o", "out8.png", "--model", "id.onnx", "--output-depth", "8", cwd=folder)
    assert wide.returncode == 0 and Image.open(folder / "out8.png").mode == "RGB"
    out8 = np.asarray(Image.open(folder / "out8.png"))
    assert np.abs(out8.astype(int) - np.round(array / 257)).max() == 0


def test_a_254_byte_name_and_a_format_it_cannot_write_get_outputs(folder: Path) -> None:
    long_name = "n" * 250 + ".png"
    write_image(folder / "small.png", RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    result = cli("run", "small.png", "-o", long_name, "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0 and (folder / long_name).is_file(), result.stderr
    Image.fromarray(RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / "anim.gif")
    result = cli("run", "anim.gif", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0 and (folder / "anim.restored.png").is_file(), result.stderr


def test_overwrite_keeps_the_replaced_files_mode(folder: Path) -> None:
    write_image(folder / "small.png", RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    (folder / "out.png").write_bytes(b"old")
    (folder / "out.png").chmod(0o600)
    result = cli("run", "small.png", "-o", "out.png", "--model", "id.onnx", "--overwrite", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((folder / "out.png").stat().st_mode) == 0o600 and (folder / "out.png").stat().st_size > 3


def test_sigterm_while_writing_removes_the_partial_file(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        import typer
        from effrestore._atomic import atomic_path
        from effrestore.cli._errors import run_cli

        app = typer.Typer()

        @app.command()
        def write() -> None:
            with atomic_path(sys.argv[1]) as partial:
                partial.write_bytes(b"half")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)

        sys.exit(run_cli(typer.main.get_command(app), []))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out.png")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 128 + signal.SIGTERM and "terminated" in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []


def test_cmyk_and_palette_tiffs_are_converted(tmp_path: Path) -> None:
    cmyk = RNG.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated")
    read, _ = read_image(tmp_path / "cmyk.tif")
    expected = np.asarray(Image.frombytes("CMYK", (9, 8), cmyk.tobytes()).convert("RGB")).astype(int)
    assert read.shape == (8, 9, 3) and np.abs(read.astype(int) - expected).max() <= 1
    indices = RNG.integers(0, 4, (8, 9), dtype=np.uint8)
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint16) * 257
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, :4] = colors.T
    tifffile.imwrite(tmp_path / "palette.tif", indices, photometric="palette", colormap=colormap)
    read, _ = read_image(tmp_path / "palette.tif")
    assert read.dtype == np.uint8 and np.array_equal(read, (colors // 257)[indices])


def test_several_pages_or_frames_are_refused_unless_the_first_is_asked_for(folder: Path) -> None:
    pages = RNG.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    tifffile.imwrite(folder / "pages.tif", pages, photometric="rgb")
    frames = [Image.fromarray(p) for p in pages]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    for name in ("pages.tif", "anim.gif"):
        refused = cli("run", name, "-o", "out.png", "--model", "id.onnx", cwd=folder)
        assert refused.returncode == 2 and "--first-frame" in refused.stderr, refused.stderr
        first = cli("run", name, "-o", f"first-{name}.png", "--model", "id.onnx", "--first-frame", cwd=folder)
        assert first.returncode == 0, first.stderr
    restored, _ = read_image(folder / "first-pages.tif.png")
    assert np.array_equal(restored, pages[0])
    with pytest.raises(ImageError, match="2 pages"):
        read_image(folder / "pages.tif")


def _zlib_level_class(path: Path) -> int:
    """FLEVEL of a PNG's first IDAT zlib stream: 0 fastest, 1 fast (levels 2-5), 2 default (6), 3 maximum."""
    data = path.read_bytes()
    start = data.index(b"IDAT") + 4
    return data[start + 1] >> 6


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_is_written_at_the_fast_zlib_level_and_reads_back_exactly(tmp_path: Path, dtype: type) -> None:
    from effrestore.runtime.imageformats.png16 import PNG_COMPRESSION_LEVEL

    assert 2 <= PNG_COMPRESSION_LEVEL <= 5, "restored photos barely compress: a fast level, not zlib's default 6"
    array = sixteen_bit((40, 30, 3)) if dtype == np.uint16 else RNG.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = write_image(tmp_path / "out.png", array)
    assert _zlib_level_class(path) == 1
    restored, _ = read_image(path)
    np.testing.assert_array_equal(restored, array)
