"""Hostile and careless input through the real CLI (subprocesses) and the API: a typed one-line error, exit 2,
nothing written; never a traceback."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from effrestore.errors import ConfigError, ImageError, ModelMetadataError
from effrestore.metadata import ModelMeta
from effrestore.runtime import Restorer

from .._models import identity_model


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width×height RGB pixels and holds none: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "\nerror: " in "\n" + result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    identity_model(tmp_path / "id.onnx")
    pixels = (np.random.default_rng(0).random((64, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "img.png")
    return tmp_path


def test_external_data_outside_the_model_folder_is_refused_on_the_run_path(folder: Path) -> None:
    (folder / "m").mkdir()
    os.symlink("/etc/passwd", folder / "m" / "link.bin")
    for name, location in (("up", "../../../../etc/passwd"), ("abs", "/etc/passwd"), ("link", "link.bin")):
        model = identity_model(folder / "m" / f"{name}.onnx", external=location)
        for backend in ("auto", "onnxruntime"):
            result = cli("run", "img.png", "-o", f"{name}.png", "--model", str(model), "--backend", backend, cwd=folder)
            assert_user_error(result, "points outside the model's folder")
            assert not (folder / f"{name}.png").exists()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("overlap", "-100", "0..4096"), ("multiple_of", "0", "1..1024"), ("scale", '"abc"', "1..16"),
     ("scale", "abc", "JSON"), ("in_channels", '"three"', "1..3"), ("tiling", "everywhere", "'supported'")],
)  # fmt: skip
def test_forged_metadata_names_the_field(folder: Path, field: str, value: str, expected: str) -> None:
    identity_model(folder / "forged.onnx", {f"effrestore.{field}": value})
    result = cli("run", "img.png", "-o", "out.png", "--model", "forged.onnx", "--tile", "16", cwd=folder)
    assert_user_error(result, f"effrestore.{field}", expected, "forged.onnx")
    assert not (folder / "out.png").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(("--threads", "100000"), "threads must be between 1 and"), (("--threads", "-1"), "--threads"),
     (("--threads", "abc"), "--threads"), (("--mem-budget", "0"), "too small"), (("--mem-budget", "0.5"), "unit"),
     (("--mem-budget", "lots"), "memory size"), (("--max-pixels", "-5"), "positive"),
     (("--max-pixels", "0"), "positive"), (("--bogus",), "No such option")],
)  # fmt: skip
def test_bad_options_stop_before_any_work(folder: Path, args: tuple[str, ...], fragment: str) -> None:
    assert_user_error(cli("run", "img.png", "-o", "out.png", "--model", "id.onnx", *args, cwd=folder), fragment)
    assert not (folder / "out.png").exists()


def test_pixel_limit_is_reported_as_given(folder: Path) -> None:
    result = cli("run", "img.png", "-o", "out.png", "--model", "id.onnx", "--max-pixels", "100", cwd=folder)
    assert_user_error(result, "limit of 100 ")


def test_other_commands_validate_up_front(folder: Path) -> None:
    (folder / "empty.onnx").write_bytes(b"")
    (folder / "file").write_text("not a folder")
    assert_user_error(cli("eval", "id.onnx", "--data", ".", "--sigma", ",", cwd=folder), "--sigma")
    assert_user_error(cli("bench", "--model", "id.onnx", "--sizes", "", cwd=folder), "--sizes")
    assert_user_error(cli("bench", "--model", "id.onnx", "--sizes", "-64", cwd=folder), "at least 1")
    assert_user_error(cli("bench", "--model", "id.onnx", "--sizes", "64", "--repeats", "0", cwd=folder), "repeats")
    assert_user_error(cli("inspect", "empty.onnx", cwd=folder), "no graph")
    assert_user_error(cli("triton-repo", "id.onnx", "-o", "file", cwd=folder), "not a folder")
    assert_user_error(cli("triton-repo", "id.onnx", "-o", "repo", "--threads", "100000", cwd=folder), "--threads")


def test_export_never_replaces_silently(folder: Path) -> None:
    (folder / "e.onnx").write_text("precious")
    assert_user_error(cli("export", "restormer-xs", "-o", "e.onnx", "--no-verify", cwd=folder), "--overwrite")
    assert (folder / "e.onnx").read_text() == "precious"
    assert_user_error(cli("export", "restormer-xs", "-o", "missing/e.onnx", cwd=folder), "does not exist")


def test_bracketed_names_are_paths_and_outputs_are_not_inputs(folder: Path) -> None:
    (folder / "good[red].png").write_bytes((folder / "img.png").read_bytes())
    result = cli("run", "good[red].png", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "good[red].restored.png").is_file()
    (folder / "out").mkdir()
    rows = json.loads(cli("run", ".", "--model", "id.onnx", "--out-dir", "out", "--json", cwd=folder).stdout)
    assert sorted(Path(row["input"]).name for row in rows) == ["good[red].png", "img.png"]


def test_a_missing_output_folder_is_created_and_a_file_is_refused(folder: Path) -> None:
    result = cli("run", "img.png", "--model", "id.onnx", "--out-dir", "new/clean", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "new" / "clean" / "img.png").is_file()
    (folder / "taken").write_bytes(b"")
    assert_user_error(cli("run", "img.png", "--model", "id.onnx", "--out-dir", "taken", cwd=folder), "not a folder")


def test_outputs_that_clash_or_replace_inputs_are_refused(folder: Path) -> None:
    for sub in ("a", "b"):
        (folder / sub).mkdir()
        (folder / sub / "x.png").write_bytes((folder / "img.png").read_bytes())
    (folder / "o").mkdir()
    clash = cli("run", "a/x.png", "b/x.png", "--model", "id.onnx", "--out-dir", "o", "--overwrite", cwd=folder)
    assert_user_error(clash, "would both be written")
    assert list((folder / "o").iterdir()) == []
    same = cli("run", "a", "--model", "id.onnx", "--out-dir", "a", "--skip-existing", cwd=folder)
    assert_user_error(same, "would replace an input")


def test_malformed_exif_is_that_images_error_in_a_batch(folder: Path) -> None:
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHI", 0x0112, 2, 4) + b"abc\x00" + struct.pack("<I", 0)
    Image.open(folder / "img.png").save(folder / "a_bad.jpg", exif=b"Exif\x00\x00" + tiff)
    (folder / "o").mkdir()
    result = cli("run", "a_bad.jpg", "img.png", "--model", "id.onnx", "--out-dir", "o", "--keep-going", "--json",
                 cwd=folder)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    rows = json.loads(result.stdout)
    assert "EXIF" in rows[0]["error"] and "error" not in rows[1] and (folder / "o" / "img.png").is_file()
    assert result.stderr.count("a_bad.jpg") == 1, "each failure names its input once"


def test_json_rows_when_the_run_fails_outright(folder: Path) -> None:
    identity_model(folder / "forged.onnx", {"effrestore.overlap": "-1"})
    result = cli("run", "img.png", "-o", "out.png", "--model", "forged.onnx", "--json", cwd=folder)
    assert result.returncode == 2
    [row] = json.loads(result.stdout)
    assert row["input"] == "img.png" and "effrestore.overlap" in row["error"] and row["run_stopped"]


def test_suggested_commands_are_shell_quoted(folder: Path) -> None:
    (folder / "m; rm -rf ~.onnx").write_bytes((folder / "id.onnx").read_bytes())
    result = cli("run", "img.png", "--model", "m; rm -rf ~.onnx", "--backend", "tensorrt", cwd=folder)
    assert_user_error(result, "'m; rm -rf ~.onnx'")


def test_a_file_that_appears_while_writing_is_not_replaced(tmp_path: Path) -> None:
    from effrestore._atomic import atomic_path
    from effrestore.errors import OutputExistsError

    target = tmp_path / "out.bin"
    with pytest.raises(OutputExistsError), atomic_path(target, replace=False) as partial:
        partial.write_text("mine")
        target.write_text("another process's")  # wins the race while this writer works
    assert target.read_text() == "another process's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"], "no partial file left behind"


def test_api_refuses_what_it_cannot_restore(folder: Path) -> None:
    restorer = Restorer.load(folder / "id.onnx")
    for bad, fragment in (
        (np.zeros(16, np.uint8), "H×W"),
        ([[1, 2], [3, 4]], "numpy array"),
        (None, "numpy array"),
        (Image.new("RGB", (8, 8)), "numpy.asarray"),
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((3, 16, 16), np.uint8), "channels-first"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
    ):
        with pytest.raises(ImageError, match=fragment):
            restorer.restore(bad)  # type: ignore[arg-type]
    big_endian = (np.arange(64 * 3, dtype=">u2") * 300).reshape(8, 8, 3)
    assert np.array_equal(restorer.restore(big_endian), big_endian.astype(np.uint16))
    for source in (None, 5):
        with pytest.raises(ConfigError, match="model path"):
            Restorer.load(source)  # type: ignore[arg-type]
    with pytest.raises(ModelMetadataError, match=r"effrestore\.overlap"):
        ModelMeta(overlap=-1)


def test_debug_shows_the_traceback(folder: Path) -> None:
    identity_model(folder / "forged.onnx", {"effrestore.multiple_of": "0"})
    result = cli("--debug", "run", "img.png", "-o", "out.png", "--model", "forged.onnx", cwd=folder)
    assert result.returncode != 0 and "Traceback" in result.stderr and "ModelMetadataError" in result.stderr


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda entry: {"probes": "many", "timings": 3},
        lambda entry: [1, 2, 3],
        lambda entry: {"probes": [], "timings": []},
        lambda entry: {"probes": [[-4096, 10], [0, -1]], "timings": entry["timings"]},
        lambda entry: {"probes": entry["probes"], "timings": [["x", None]]},
        lambda entry: {"probes": [[p, 10**30] for p, _ in entry["probes"]], "timings": entry["timings"]},
        lambda entry: {"probes": [[p, float("inf")] for p, _ in entry["probes"]], "timings": entry["timings"]},
        lambda entry: {"probes": [[p, 0] for p, _ in entry["probes"]], "timings": entry["timings"]},
        lambda entry: {"probes": entry["probes"], "timings": [[p, float("nan")] for p, _ in entry["timings"]]},
        lambda entry: {**entry, "startups": [[p, -1.0] for p, _ in entry["startups"]]},
    ],
)
def test_a_corrupt_fit_cache_is_measured_again(folder: Path, corrupt: object) -> None:
    env = {**os.environ, "EFFRESTORE_CACHE_DIR": str(folder / "cache")}
    first = cli("run", "img.png", "-o", "a.png", "--model", "id.onnx", "--mem-budget", "4GiB", cwd=folder, env=env)
    assert first.returncode == 0, first.stderr
    (fits,) = (folder / "cache").rglob("memory-fits.json")
    entries = json.loads(fits.read_text())
    fits.write_text(json.dumps({key: corrupt(entry) for key, entry in entries.items()}))  # type: ignore[operator]
    again = cli("run", "img.png", "-o", "b.png", "--model", "id.onnx", "--mem-budget", "4GiB", cwd=folder, env=env)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert np.array_equal(np.asarray(Image.open(folder / "b.png")), np.asarray(Image.open(folder / "img.png")))
    assert set(json.loads(fits.read_text())) == set(entries), "the entry is measured again and replaced"


def test_a_whole_cache_file_that_is_not_an_object_is_ignored(folder: Path) -> None:
    env = {**os.environ, "EFFRESTORE_CACHE_DIR": str(folder / "cache")}
    (folder / "cache").mkdir(parents=True)
    (folder / "cache" / "memory-fits.json").write_text("[1, 2")
    result = cli("run", "img.png", "-o", "a.png", "--model", "id.onnx", cwd=folder, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_eval_on_a_folder_holding_a_decompression_bomb(folder: Path) -> None:
    data = folder / "data"
    data.mkdir()
    Image.open(folder / "img.png").save(data / "fine.png")
    png_header_only(data / "bomb.png", 40_000, 40_000)
    result = cli("eval", "id.onnx", "--data", "data", "--sigma", "25", "--no-ssim", cwd=folder)
    assert_user_error(result, "bomb.png", "pixels")


def test_nan_in_a_float_tiff_is_the_inputs_fault(folder: Path) -> None:
    pixels = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    pixels[3, 4, 1] = np.nan
    tifffile.imwrite(folder / "nan.tif", pixels, photometric="rgb")
    result = cli("run", "nan.tif", "-o", "out.tif", "--model", "id.onnx", cwd=folder)
    assert_user_error(result, "nan.tif", "NaN")
    assert not (folder / "out.tif").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_input_is_reported_as_such(folder: Path) -> None:
    (folder / "img.png").chmod(0)
    result = cli("run", "img.png", "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert_user_error(result, "permission denied")
