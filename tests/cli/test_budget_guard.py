"""The memory budget holds against what a file makes the decoder do and against what a cache claims: strips
and tiles are planned (and refused when one alone is too large), and a run whose measured peak passed the
budget says so, exits 3, and drops the fit that planned it. Real CLI subprocesses, real measurements."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from effrestore.runtime.cache import machine_id

from .._models import identity_model, wide_identity_model
from .test_hardening import assert_user_error, cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    identity_model(tmp_path / "id.onnx")
    return tmp_path


def cached_env(folder: Path) -> dict[str, str]:
    return {**os.environ, "EFFRESTORE_CACHE_DIR": str(folder / "cache")}


def fits_file(folder: Path) -> Path:
    return folder / "cache" / "memory-fits.json"


def set_tag(path: Path, code: int, value: int) -> None:
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages.first.tags[code].overwrite(value)


def test_a_tile_declared_over_the_pixel_limit_is_refused_before_decoding(folder: Path) -> None:
    pixels = np.zeros((16, 16, 3), np.uint8)
    tifffile.imwrite(folder / "bomb.tif", pixels, tile=(16, 16), compression="zlib", photometric="rgb")
    set_tag(folder / "bomb.tif", 322, 32768)  # TileWidth
    set_tag(folder / "bomb.tif", 323, 32768)  # TileLength
    result = cli("run", "bomb.tif", "-o", "o.tif", "--model", "id.onnx", "--mem-budget", "300MiB", cwd=folder)
    assert_user_error(result, "bomb.tif", "tile is declared 32768×32768", "pixel limit")
    assert not (folder / "o.tif").exists()


def test_a_tile_that_alone_breaks_the_budget_is_refused_before_decoding(folder: Path) -> None:
    """A 16×16 image in one zlib tile of 8192² (a padded tile: a valid file, 200 MB once decoded)."""
    pixels = np.zeros((16, 16, 3), np.uint8)
    tifffile.imwrite(folder / "big.tif", pixels, tile=(8192, 8192), compression="zlib", photometric="rgb")
    assert (folder / "big.tif").stat().st_size < 1_000_000
    result = cli("run", "big.tif", "-o", "o.tif", "--model", "id.onnx", "--mem-budget", "300MiB", cwd=folder)
    assert_user_error(result, "300")
    assert not (folder / "o.tif").exists()


def test_a_jpeg_stream_larger_than_its_strip_is_refused(folder: Path) -> None:
    stream = io.BytesIO()
    Image.new("RGB", (4096, 4096)).save(stream, "JPEG", quality=50)
    tifffile.imwrite(
        folder / "bomb.tif",
        iter([stream.getvalue()]),
        shape=(16, 16, 3),
        dtype=np.uint8,
        compression="jpeg",
        photometric="rgb",
        rowsperstrip=16,
    )
    result = cli("run", "bomb.tif", "-o", "o.tif", "--model", "id.onnx", "--mem-budget", "300MiB", cwd=folder)
    assert_user_error(result, "bomb.tif", "4096×4096", "16×16", "not decoded")
    assert not (folder / "o.tif").exists()


def test_an_honest_jpeg_tiff_still_restores(folder: Path) -> None:
    pixels = np.asarray(Image.effect_noise((64, 48), 40).convert("RGB"))
    tifffile.imwrite(folder / "ok.tif", pixels, compression="jpeg", photometric="rgb", rowsperstrip=16)
    result = cli("run", "ok.tif", "-o", "o.tif", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(tifffile.imread(folder / "o.tif"), tifffile.imread(folder / "ok.tif"))


@pytest.mark.slow
def test_a_single_strip_tiff_is_planned_with_its_strip(folder: Path) -> None:
    """Each band decodes the whole strip: the plan counts it, and the measured peak stays under the budget."""
    pixels = np.random.default_rng(0).integers(0, 256, (3000, 3000, 3), np.uint8)
    tifffile.imwrite(folder / "one.tif", pixels, compression="zlib", photometric="rgb", rowsperstrip=3000)
    budget = 300 * 2**20
    result = cli(
        "run", "one.tif", "-o", "o.tif", "--model", "id.onnx", "--mem-budget", str(budget), "--json", cwd=folder
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert not row["over_budget"]
    assert row["measured_peak_bytes"] <= row["planned_peak_bytes"] <= budget
    assert np.array_equal(tifffile.imread(folder / "o.tif"), pixels)


def test_a_fit_claiming_no_growth_is_measured_again_and_keyed_by_runtime_and_cpu(folder: Path) -> None:
    env = cached_env(folder)
    Image.new("RGB", (64, 48)).save(folder / "img.png")
    first = cli("run", "img.png", "-o", "a.png", "--model", "id.onnx", "--mem-budget", "1GiB", cwd=folder, env=env)
    assert first.returncode == 0, first.stderr
    measured = json.loads(fits_file(folder).read_text())
    (key,) = measured
    import openvino

    assert machine_id() in key and openvino.__version__ in key, key
    forged = {key: {**entry, "probes": [[p, 0] for p, _ in entry["probes"]]} for key, entry in measured.items()}
    fits_file(folder).write_text(json.dumps(forged))
    again = cli("run", "img.png", "-o", "b.png", "--model", "id.onnx", "--mem-budget", "1GiB", cwd=folder, env=env)
    assert again.returncode == 0, again.stderr
    remeasured = json.loads(fits_file(folder).read_text())
    assert all(growth > 0 for _, growth in remeasured[key]["probes"]), "the forged entry is replaced"


def test_a_run_past_its_budget_says_so_exits_3_and_drops_the_fit(folder: Path) -> None:
    """A plausible but far too low fit (4 bytes per pixel, probed up to 4 MP) for a model whose calls take
    512 bytes per pixel plans a 1 MP image as one cheap call; the measured peak then passes the budget: a
    note, `over_budget` in the JSON, exit 3, the fit dropped, and the next run measures and keeps to it."""
    env = cached_env(folder)
    wide_identity_model(folder / "wide.onnx", 128)
    Image.new("RGB", (32, 32)).save(folder / "small.png")
    first = cli("run", "small.png", "-o", "a.png", "--model", "wide.onnx", cwd=folder, env=env)
    assert first.returncode == 0, first.stderr
    (key,) = json.loads(fits_file(folder).read_text())
    low = {"probes": [[4096, 4 * 4096], [1 << 22, 4 << 22]], "timings": [[4096, 0.001], [1 << 22, 0.5]]}
    fits_file(folder).write_text(json.dumps({key: low}))
    pixels = np.random.default_rng(1).integers(0, 256, (1024, 1024, 3), np.uint8)
    Image.fromarray(pixels).save(folder / "big.png")
    args = ("run", "big.png", "-o", "b.png", "--model", "wide.onnx", "--json", "--overwrite", "--mem-budget", "400MiB")
    result = cli(*args, cwd=folder, env=env)
    assert result.returncode == 3, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["over_budget"] and row["measured_peak_bytes"] > row["budget_bytes"] == 400 * 2**20
    assert "passed the budget" in result.stderr and "measured again" in result.stderr
    assert key not in json.loads(fits_file(folder).read_text())
    assert np.array_equal(np.asarray(Image.open(folder / "b.png")), pixels), "the output itself is whole"
    again = cli(*args, cwd=folder, env=env)
    assert again.returncode == 0, again.stderr
    (row,) = json.loads(again.stdout)
    assert not row["over_budget"] and row["measured_peak_bytes"] <= row["budget_bytes"]


def test_one_bad_file_is_that_images_error_in_a_keep_going_batch(folder: Path) -> None:
    (folder / "in").mkdir()
    good = np.random.default_rng(2).integers(0, 256, (24, 32, 3), np.uint8)
    np.save(folder / "in" / "a.npy", good)
    np.save(folder / "in" / "empty-rows.npy", np.zeros((0, 16, 3), np.uint8))
    np.save(folder / "in" / "empty-cols.npy", np.zeros((16, 0, 3), np.uint8))
    np.save(folder / "in" / "z.npy", good[::-1])
    result = cli("run", "in", "--out-dir", "out", "--model", "id.onnx", "--keep-going", cwd=folder)
    assert result.returncode == 1, result.stderr
    assert "2 of 4 images failed" in result.stderr, result.stderr
    for name in ("empty-rows.npy", "empty-cols.npy"):
        assert f"{name}: " in result.stderr and "the image is empty" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert np.array_equal(np.load(folder / "out" / "a.npy"), good)
    assert np.array_equal(np.load(folder / "out" / "z.npy"), good[::-1])
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["a.npy", "z.npy"]
