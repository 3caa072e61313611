"""Output paths checked before any work, and a bad one is that image's failure under --keep-going; inputs
that are not files (pipes, devices) are named for what they are. Real CLI subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from .._models import identity_model
from .test_hardening import assert_user_error, cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    identity_model(tmp_path / "id.onnx")
    (tmp_path / "in").mkdir()
    pixels = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in" / "short.png")
    Image.fromarray(pixels).save(tmp_path / "in" / ("n" * 246 + ".png"))  # its NAME.restored.png is 259 bytes
    return tmp_path


def test_an_output_name_too_long_is_that_images_failure_under_keep_going(folder: Path) -> None:
    result = cli("run", "in", "--model", "id.onnx", "--keep-going", cwd=folder)
    assert result.returncode == 1, result.stderr
    assert "1 of 2 images failed" in result.stderr and "longer than 255 bytes" in result.stderr, result.stderr
    assert "n" * 246 + ".png" in result.stderr.replace("\n", "").replace(" ", ""), "the input is named"
    assert (folder / "in" / "short.restored.png").is_file()


def test_without_keep_going_the_long_name_stops_the_run_before_any_work(folder: Path) -> None:
    result = cli("run", "in", "--model", "id.onnx", cwd=folder)
    assert_user_error(result, "longer than 255 bytes", "rename the input")
    assert not (folder / "in" / "short.restored.png").exists()


def test_a_dangling_symlink_output_is_refused_before_the_restore(folder: Path) -> None:
    os.symlink(folder / "nowhere" / "x.png", folder / "out.png")
    result = cli("run", "in/short.png", "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert_user_error(result, "out.png", "symbolic link to a missing file")
    assert os.path.islink(folder / "out.png") and not (folder / "nowhere").exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_pipe_or_a_device_is_named_for_what_it_is(folder: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(folder / "pipe.png")
        source = "pipe.png"
    else:
        source = "/dev/zero"
    result = cli("run", source, "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert_user_error(result, "not a regular file")
    assert not (folder / "out.png").exists()


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg", ".tif"])
def test_a_resolution_beyond_the_output_format_is_dropped_and_named(folder: Path, suffix: str) -> None:
    pixels = np.zeros((16, 16, 3), np.uint8)
    tifffile.imwrite(folder / "dense.tif", pixels, photometric="rgb", resolution=(4e9, 4e9), resolutionunit="INCH")
    result = cli("run", "dense.tif", "-o", f"out{suffix}", "--model", "id.onnx", "--json", cwd=folder)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (row,) = json.loads(result.stdout)
    if suffix == ".tif":
        assert row["dropped_metadata"] == []
        assert tifffile.TiffFile(folder / "out.tif").pages.first.tags["XResolution"].value[0] >= 3.9e9
    else:
        assert row["dropped_metadata"] and "beyond" in row["dropped_metadata"][0]
        plain = cli("run", "dense.tif", "-o", f"again{suffix}", "--model", "id.onnx", cwd=folder)
        assert "write .tif to keep it" in plain.stderr.replace("\n", " "), plain.stderr
        assert np.array_equal(np.asarray(Image.open(folder / f"out{suffix}")), pixels)


def test_half_written_files_of_a_killed_run_are_removed_but_not_a_live_writers(folder: Path) -> None:
    (folder / "out").mkdir()
    stale = folder / "out" / ".short.png.k1ll3d.partial"
    stale.write_bytes(b"\0" * 4096)
    live = folder / "out" / ".short.png.w0rk1n.partial"
    live.write_bytes(b"\0" * 4096)
    for path in (stale, live):
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); time.sleep(120)", str(live)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = cli("run", "in/short.png", "--out-dir", "out", "--model", "id.onnx", cwd=folder)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert "removed 1 half-written file" in result.stderr
    assert not stale.exists() and live.exists() and (folder / "out" / "short.png").is_file()
