"""`effrestore run` as a batch job, through real subprocesses: shards split the inputs between workers,
--skip-existing resumes, --keep-going finishes the other images when one fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(5):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{index}.png")
    return folder


def restored(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_shards_split_the_inputs_and_skip_existing_resumes(models_dir: Path, inputs: Path, tmp_path: Path) -> None:
    model = str(models_dir / "conv.onnx")
    outs = [tmp_path / "out0", tmp_path / "out1"]
    for index, out in enumerate(outs):
        out.mkdir()
        result = cli("run", str(inputs), "--out-dir", str(out), "--model", model, "--shard", f"{index}/2", "--json")
        assert result.returncode == 0, result.stderr
    assert restored(outs[0]) == ["img0.png", "img2.png", "img4.png"]
    assert restored(outs[1]) == ["img1.png", "img3.png"]

    before = {p: p.stat().st_mtime_ns for p in outs[0].iterdir()}
    (outs[0] / "img2.png").unlink()  # an interrupted job: one output missing
    result = cli("run", str(inputs), "--out-dir", str(outs[0]), "--model", model, "--shard", "0/2", "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert restored(outs[0]) == ["img0.png", "img2.png", "img4.png"]
    for kept in ("img0.png", "img4.png"):
        assert (outs[0] / kept).stat().st_mtime_ns == before[outs[0] / kept]

    again = cli("run", str(inputs), "--out-dir", str(outs[0]), "--model", model, "--shard", "0/2", "--skip-existing")
    assert again.returncode == 0 and "nothing to restore" in again.stderr


def test_keep_going_restores_the_rest_and_exits_nonzero(models_dir: Path, inputs: Path, tmp_path: Path) -> None:
    (inputs / "img1.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    out.mkdir()
    args = ("run", str(inputs), "--out-dir", str(out), "--model", str(models_dir / "conv.onnx"))
    stops = cli(*args)
    assert stops.returncode == 2 and "img1.png" in stops.stderr

    for leftover in out.iterdir():
        leftover.unlink()
    result = cli(*args, "--keep-going", "--json")
    assert result.returncode == 1
    assert "1 of 5 images failed" in result.stderr and "img1.png" in result.stderr
    assert restored(out) == ["img0.png", "img2.png", "img3.png", "img4.png"]
    rows = {Path(row["input"]).name: row for row in json.loads(result.stdout)}
    assert "error" in rows["img1.png"] and rows["img3.png"]["tiles"] >= 1


@pytest.mark.parametrize("spec", ["2/2", "1", "a/b", "0/0"])
def test_bad_shard_is_a_clear_error(inputs: Path, tmp_path: Path, spec: str) -> None:
    result = cli("run", str(inputs), "--out-dir", str(tmp_path), "--shard", spec)
    assert result.returncode == 2 and "--shard" in result.stderr
