"""The Restorer end to end: memory budget in a subprocess, no-torch import, threads, CLI bad input, SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from effrestore.errors import ConfigError, ImageError, MemoryBudgetError
from effrestore.runtime import Restorer
from effrestore.runtime.planner import Buffers

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"


def cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=900, **kw
    )


# Starts the command and prints its max RSS. The CLI must not be spawned from the test process itself: Linux
# carries the spawning process's high-water mark into a (v)forked child's `ru_maxrss` at exec, so a child of a
# large pytest process would report pytest's peak. From this small launcher it reports only its own.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss * 1024}")
"""


def cli_with_peak(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, int]:
    """Runs the CLI and returns (exit code, stdout, stderr, that child's own max RSS in bytes)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage"
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), sys.executable, "-m", "effrestore", *args],
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
        code, peak = map(int, report.read_text().split())
        return code, launched.stdout, launched.stderr, peak


def test_dtypes_channels_alpha_and_stats(models_dir: Path) -> None:
    restorer = Restorer.load(models_dir / "conv-x2.onnx", tile=64, tile_overlap=8)
    rgba = np.random.default_rng(0).integers(0, 256, (37, 45, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    out = restorer.restore(rgba)
    assert out.shape == (74, 90, 4) and out.dtype == np.uint8 and (out[..., 3] == 255).all()
    noisy = np.random.default_rng(1).normal(0.5, 0.4, (24, 24, 3)).astype(np.float32)  # outside [0, 1]
    assert restorer.restore(noisy).dtype == np.float32
    sixteen = np.random.default_rng(2).integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    assert restorer.restore(sixteen).dtype == np.uint16
    stats = restorer.last_stats
    assert stats.tiles >= 1 and stats.planned_peak > 0 and stats.measured_peak > 0
    assert (stats.backend, stats.precision) == ("openvino", "fp32")
    gray = Restorer.load(models_dir / "conv-gray.onnx").restore(np.zeros((1, 1), np.uint8))  # a 1×1 image
    assert gray.shape == (1, 1)
    with pytest.raises(ImageError, match="split multi-band"):
        Restorer.load(models_dir / "conv.onnx").restore(np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(ImageError, match="colour model"):
        gray_model = Restorer.load(models_dir / "conv-gray.onnx")
        gray_model.restore(np.zeros((8, 8, 3), np.uint8))


def cold_cache(folder: Path) -> dict[str, str]:
    """The environment with an empty user cache folder: the run must calibrate, inside its budget."""
    return {**os.environ, "EFFRESTORE_CACHE_DIR": str(folder / "cache")}


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS via /proc")
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_budget_holds_on_a_cold_cache(models_dir: Path, tmp_path: Path, backend: str) -> None:
    image = tmp_path / "in.png"
    Image.open(SAMPLE).resize((1024, 768), Image.BICUBIC).save(image)
    budget = 400 * 2**20
    command = ["run", str(image), "-o", str(tmp_path / "out.png"), "--model", str(models_dir / "glmha.onnx")]
    code, stdout, stderr, child_peak = cli_with_peak(
        *command, "--backend", backend, "--mem-budget", "400MiB", "--threads", "2", "--json", env=cold_cache(tmp_path)
    )
    assert code == 0, stderr
    (stats,) = json.loads(stdout)
    assert stats["backend"] == backend and stats["tile"] is not None
    assert stats["measured_peak_bytes"] <= budget and child_peak <= budget, (stats, child_peak)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS via /proc")
def test_cold_calibration_stays_inside_a_tight_budget_and_its_advice_works(tmp_path: Path) -> None:
    """The shipped default model on a cold cache: a budget too tight is refused without passing it while
    calibrating, and the budget the refusal names works on another cold cache, inside itself."""
    image = tmp_path / "in.png"
    Image.open(SAMPLE).resize((512, 512), Image.BICUBIC).save(image)
    command = ["run", str(image), "-o", str(tmp_path / "out.png"), "--threads", "2", "--json"]
    tight = 240 * 2**20
    code, _, stderr, child_peak = cli_with_peak(*command, "--mem-budget", "240MiB", env=cold_cache(tmp_path / "a"))
    assert code == 2 and "a budget that works, also when it must be measured again, is about" in stderr, stderr
    assert child_peak <= tight, child_peak / 2**20
    advised = re.search(r"a budget that works, also when it must be measured again, is about (\d+) MiB", stderr)
    assert advised, stderr
    budget = int(advised.group(1)) * 2**20
    code, stdout, stderr, child_peak = cli_with_peak(
        *command, "--mem-budget", f"{advised.group(1)}MiB", env=cold_cache(tmp_path / "b")
    )
    assert code == 0, stderr
    (stats,) = json.loads(stdout)
    assert stats["measured_peak_bytes"] <= budget and child_peak <= budget, (stats, child_peak)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS via /proc")
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_4k_under_700mib_budget_and_whole_image_refused(models_dir: Path, tmp_path: Path, backend: str) -> None:
    big = tmp_path / "4k.png"
    Image.open(SAMPLE).resize((3840, 2160), Image.BICUBIC).save(big)
    budget = 700 * 2**20
    code, stdout, stderr, child_peak = cli_with_peak(
        "run",
        str(big),
        "-o",
        str(tmp_path / "out.png"),
        "--model",
        str(models_dir / "conv.onnx"),
        "--mem-budget",
        "700MiB",
        "--threads",
        "2",
        "--backend",
        backend,
        "--json",
        env=cold_cache(tmp_path),
    )
    assert code == 0, stderr
    (stats,) = json.loads(stdout)
    print(
        f"4K under 700MiB with {backend}: tile {stats['tile']} x{stats['tiles']}, "
        f"planned {stats['planned_peak_bytes'] / 2**20:.0f} "
        f"MiB, measured {stats['measured_peak_bytes'] / 2**20:.0f} MiB, child max RSS {child_peak / 2**20:.0f} MiB"
    )
    assert stats["measured_peak_bytes"] <= budget and child_peak <= budget
    assert stats["planned_peak_bytes"] <= budget and stats["tile"] is not None
    refused = cli(
        "run",
        str(big),
        "-o",
        str(tmp_path / "whole.png"),
        "--model",
        str(models_dir / "conv.onnx"),
        "--mem-budget",
        "700MiB",
        "--tile",
        "none",
    )
    assert refused.returncode == 2 and "over the budget" in refused.stderr
    assert not (tmp_path / "whole.png").exists()


def test_impossible_budget_names_the_smallest(models_dir: Path) -> None:
    below_the_process = Restorer.load(models_dir / "conv.onnx", mem_budget="10MB")
    with pytest.raises(MemoryBudgetError, match="smallest budget that works is more than"):
        below_the_process.restore(np.zeros((64, 64, 3), np.uint8))
    buffers = Buffers.of(512, 3, 3, 1, 1, whole_output=512 * 512 * 3).at(64, 64 * 64)
    barely_above = Restorer.load(
        models_dir / "conv.onnx", mem_budget=psutil.Process().memory_info().rss + buffers + 6 * 2**20
    )
    with pytest.raises(MemoryBudgetError, match="a budget that works, also when it must be measured again, is about"):
        barely_above.restore(np.zeros((512, 512, 3), np.uint8))


def test_runtime_without_torch(models_dir: Path, tmp_path: Path) -> None:
    code = f"""
import sys, pkgutil, importlib
sys.modules["torch"] = None  # any import of torch now fails
import effrestore.runtime as rt
for info in pkgutil.walk_packages(rt.__path__, "effrestore.runtime."):
    if not info.name.endswith(".pytorch"):
        importlib.import_module(info.name)
r = rt.Restorer.load({str(models_dir / "conv.onnx")!r})
r.restore_file({str(SAMPLE)!r}, {str(tmp_path / "out.png")!r})
assert "tensorrt" not in sys.modules
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert (tmp_path / "out.png").exists()
    cli_code = f"""
import sys
import tempfile
sys.modules["torch"] = None
sys.argv = ["effrestore", "run", {str(SAMPLE)!r}, "-o", {str(tmp_path / "cli.png")!r}, "--model",
            {str(models_dir / "conv.onnx")!r}]
from effrestore.cli.main import main
main()
"""
    result = subprocess.run([sys.executable, "-c", cli_code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli.png").exists()


def test_four_threads_match_serial(models_dir: Path) -> None:
    restorer = Restorer.load(models_dir / "glmha.onnx", tile=64, tile_overlap=16, threads=1)
    images = [np.random.default_rng(i).integers(0, 256, (48 + 8 * i, 80, 3), dtype=np.uint8) for i in range(4)]
    serial = [restorer.restore(img) for img in images]
    results: dict[int, np.ndarray] = {}
    workers = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, restorer.restore(images[i]))) for i in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for i in range(4):
        np.testing.assert_array_equal(results[i], serial[i])


def test_cli_bad_inputs(models_dir: Path, tmp_path: Path) -> None:
    model = str(models_dir / "conv.onnx")
    text = tmp_path / "text.png"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for bad, message in ((text, "cannot read"), (empty, "empty")):
        result = cli("run", str(bad), "-o", str(tmp_path / "o.png"), "--model", model)
        assert result.returncode == 2 and message in result.stderr
        assert not (tmp_path / "o.png").exists()
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep")
    result = cli("run", str(SAMPLE), "-o", str(existing), "--model", model)
    assert result.returncode == 2 and "--overwrite" in result.stderr and existing.read_bytes() == b"keep"
    big = cli("run", str(SAMPLE), "-o", str(tmp_path / "o.png"), "--model", model, "--max-pixels", "1000")
    assert big.returncode == 2 and "--max-pixels" in big.stderr
    result = cli("run", str(SAMPLE), "-o", "/proc/effrestore.png", "--model", model)
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_onnx_without_metadata(models_dir: Path, tmp_path: Path) -> None:
    import onnx

    from effrestore.metadata import ModelMeta

    model = onnx.load(str(models_dir / "conv.onnx"))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ConfigError, match=r"no effrestore\.\* metadata"):
        Restorer.load(bare)
    usable = Restorer.load(bare, meta=ModelMeta(multiple_of=8, overlap=16), tile=64)
    assert usable.restore(np.zeros((32, 32, 3), np.uint8)).shape == (32, 32, 3)
    result = cli("run", str(SAMPLE), "-o", str(tmp_path / "o.png"), "--model", str(bare))
    assert result.returncode == 2 and "effrestore export" in result.stderr


def _default_sigint() -> None:
    """A shell starts background jobs with SIGINT ignored and children inherit that; a user's terminal does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_leaves_no_partial_file(models_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.open(SAMPLE).resize((2048, 2048)).save(big)
    out = tmp_path / "out.png"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "effrestore",
            "run",
            str(big),
            "-o",
            str(out),
            "--model",
            str(models_dir / "glmha.onnx"),
            "--tile",
            "128",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_default_sigint,
    )
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
