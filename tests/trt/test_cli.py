"""The TensorRT commands on a machine without TensorRT: friendly errors, and `inspect` still reporting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import write_engine

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=300)


def test_build_without_standard_tensorrt(identity_onnx: Path, tmp_path: Path) -> None:
    result = cli("build", str(identity_onnx), "-o", str(tmp_path / "m.plan"), "--target", "tensorrt")
    assert result.returncode == 2
    assert "pip install 'effrestore[tensorrt]'" in result.stderr, "brackets survive the console's markup"
    assert "--backend onnxruntime" in result.stderr
    assert not (tmp_path / "m.plan").exists() and not (tmp_path / "m.plan.json").exists()
    bad = cli("build", str(identity_onnx), "-o", str(tmp_path / "m.plan"), "--min-shape", "input:1x3x8x8")
    assert bad.returncode == 2 and "all three" in bad.stderr


def test_run_engine_without_tensorrt(tmp_path: Path) -> None:
    plan = write_engine(tmp_path)
    result = cli("run", str(SAMPLE), "-o", str(tmp_path / "out.png"), "--engine", str(plan))
    assert result.returncode == 2
    assert "cannot run here" in result.stderr and "tensorrt is not installed here" in result.stderr
    assert "effrestore build models/tiny.onnx" in result.stderr and "--backend onnxruntime" in result.stderr
    assert not (tmp_path / "out.png").exists()
    onnx_as_engine = cli("run", str(SAMPLE), "-o", str(tmp_path / "o.png"), "--backend", "tensorrt")
    assert onnx_as_engine.returncode == 2 and "effrestore build" in onnx_as_engine.stderr


def test_inspect_plan_reports_what_it_can(tmp_path: Path) -> None:
    plan = write_engine(tmp_path)
    result = cli("inspect", str(plan))
    assert result.returncode == 1, result.stderr
    text = " ".join(result.stdout.split())
    for expected in ("built with tensorrt 10.13.0.35 on NVIDIA H100", "device memory", "plan header: tensorrt plan",
                     "cannot run here", "effrestore build models/tiny.onnx"):  # fmt: skip
        assert expected in text, (expected, text)
    info = json.loads(cli("inspect", str(plan), "--json").stdout)
    assert info["header"]["tensorrt_version"] == "10.13.0.35" and info["manifest"]["precision"] == "fp16"
    assert info["runs_here"] is False and info["rebuild_command"].startswith("effrestore build")


def test_inspect_onnx_for_tensorrt(identity_onnx: Path) -> None:
    result = cli("inspect", str(identity_onnx), "--target", "tensorrt", "--json")
    assert result.returncode == 0, result.stderr
    assert "builds with TensorRT" in json.loads(result.stdout)["tensorrt"]["verdict"]


def test_runtime_imports_no_tensorrt() -> None:
    code = (
        "import sys, importlib, pkgutil; import effrestore.runtime as rt, effrestore.trt as trt\n"
        "for package in (rt, trt):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not info.name.endswith('.pytorch'):\n"
        "            importlib.import_module(info.name)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorrt', 'tensorrt_rtx', 'cuda', 'torch')]\n"
        "print(sorted(m for m in loaded if m != 'cuda'))  # 'cuda' alone: cuda-python's empty namespace package\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
