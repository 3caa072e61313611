"""Sample types, transparency keys, orientations and metadata that readers meet in real files: converted
without loss or refused with a fix, never turned into another picture; metadata kept or named.
Real CLI subprocesses, an identity model."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, PngImagePlugin

from .._models import identity_model
from .test_hardening import assert_user_error, cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    identity_model(tmp_path / "id.onnx", channels=1)
    identity_model(tmp_path / "rgb.onnx")
    return tmp_path


def restore(folder: Path, source: str, output: str, model: str = "id.onnx") -> np.ndarray:
    result = cli("run", source, "-o", output, "--model", model, "--keep-color", cwd=folder)
    assert result.returncode == 0, result.stderr
    return np.asarray(Image.open(folder / output)) if not output.endswith(".tif") else tifffile.imread(folder / output)


@pytest.mark.parametrize("photometric", ["miniswhite", "minisblack"])
def test_a_bilevel_tiff_keeps_black_and_white(folder: Path, photometric: str) -> None:
    ink = np.zeros((16, 24), bool)
    ink[4:12, 6:18] = True  # stored bits; white-is-zero files store ink as 1
    tifffile.imwrite(folder / "bw.tif", ink, photometric=photometric)
    out = restore(folder, "bw.tif", "bw.png")
    black = ink if photometric == "miniswhite" else ~ink
    assert out.dtype == np.uint8 and np.array_equal(out, np.where(black, 0, 255))
    depth = cli("run", "bw.tif", "-o", "bw8.png", "--model", "id.onnx", "--output-depth", "8", cwd=folder)
    assert depth.returncode == 0 and np.array_equal(np.asarray(Image.open(folder / "bw8.png")), out)


def test_a_float16_tiff_is_widened_to_float32(folder: Path) -> None:
    pixels = np.linspace(0, 1, 16 * 16, dtype=np.float16).reshape(16, 16)
    tifffile.imwrite(folder / "half.tif", pixels)
    out = restore(folder, "half.tif", "half-out.tif")
    assert out.dtype == np.float32 and np.array_equal(out, pixels.astype(np.float32))


@pytest.mark.parametrize("dtype", ["int16", "uint32", "int32"])
def test_integer_types_outside_the_supported_ones_are_refused_with_a_fix(folder: Path, dtype: str) -> None:
    tifffile.imwrite(folder / "odd.tif", np.full((16, 16), 7, dtype))
    result = cli("run", "odd.tif", "-o", "o.png", "--model", "id.onnx", "--output-depth", "8", cwd=folder)
    assert_user_error(result, f"{dtype} samples", "convert it first")
    assert not (folder / "o.png").exists()


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_png_colour_key_becomes_alpha(folder: Path, mode: str) -> None:
    pixels = np.random.default_rng(0).integers(1, 255, (12, 20, 3), np.uint8)
    pixels[3:6, 4:9] = (10, 20, 30)
    image = Image.fromarray(pixels if mode == "RGB" else pixels[..., 0])
    image.save(folder / "key.png", transparency=(10, 20, 30) if mode == "RGB" else 10)
    out = restore(folder, "key.png", "key-out.png", "rgb.onnx" if mode == "RGB" else "id.onnx")
    assert out.shape[2] == (4 if mode == "RGB" else 2)
    keyed = (pixels == (10, 20, 30)).all(axis=2) if mode == "RGB" else pixels[..., 0] == 10
    assert np.array_equal(out[..., -1], np.where(keyed, 0, 255))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_tiff_orientation_is_applied_and_the_output_is_upright(folder: Path, orientation: int) -> None:
    stored = np.random.default_rng(1).integers(0, 255, (12, 20), np.uint8)
    tifffile.imwrite(folder / "turned.tif", stored, extratags=[(274, "H", 1, orientation, True)])
    out = restore(folder, "turned.tif", "upright.tif")
    upright = {3: stored[::-1, ::-1], 6: np.rot90(stored, -1), 8: np.rot90(stored, 1)}[orientation]
    assert np.array_equal(out, upright)
    assert 274 not in tifffile.TiffFile(folder / "upright.tif").pages.first.tags


def test_text_xmp_and_gamma_are_kept_where_the_format_holds_them_and_named_elsewhere(folder: Path) -> None:
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Author", "Ann Example")
    chunks.add_itxt("Comment", "grain kept on purpose, ünïcode")
    chunks.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    chunks.add(b"gAMA", struct.pack(">I", 45455))
    pixels = np.random.default_rng(2).integers(0, 255, (12, 16, 3), np.uint8)
    Image.fromarray(pixels).save(folder / "meta.png", pnginfo=chunks)
    rows = {}
    for output in ("same.png", "same.tif", "same.jpg"):
        result = cli("run", "meta.png", "-o", output, "--model", "rgb.onnx", "--json", cwd=folder)
        assert result.returncode == 0, result.stderr
        rows[output] = json.loads(result.stdout)[0]["dropped_metadata"]
    png = Image.open(folder / "same.png")
    assert png.text["Author"] == "Ann Example" and png.text["Comment"].endswith("ünïcode")
    assert "xmpmeta" in png.text["XML:com.adobe.xmp"] and png.info["gamma"] == pytest.approx(0.45455)
    assert rows["same.png"] == []
    tags = tifffile.TiffFile(folder / "same.tif").pages.first.tags
    assert tags["Artist"].value == "Ann Example" and b"xmpmeta" in bytes(tags["XMP"].value)
    assert rows["same.tif"] == ["gamma", "text fields (Comment)"]
    assert b"xmpmeta" in (Image.open(folder / "same.jpg").info.get("xmp") or b"")
    assert rows["same.jpg"] == ["gamma", "text fields (Author, Comment)"]


def test_tiff_artist_copyright_and_xmp_reach_a_png(folder: Path) -> None:
    tifffile.imwrite(
        folder / "credited.tif",
        np.zeros((8, 8, 3), np.uint8),
        photometric="rgb",
        metadata=None,
        extratags=[(315, "s", 0, "Bo", True), (33432, "s", 0, "(c) Bo", True), (700, "B", 9, b"<x:xmp/>\n", True)],
    )
    result = cli("run", "credited.tif", "-o", "credited.png", "--model", "rgb.onnx", "--json", cwd=folder)
    assert result.returncode == 0 and json.loads(result.stdout)[0]["dropped_metadata"] == [], result.stderr
    text = Image.open(folder / "credited.png").text
    assert text["Author"] == "Bo" and text["Copyright"] == "(c) Bo" and "x:xmp" in text["XML:com.adobe.xmp"]
