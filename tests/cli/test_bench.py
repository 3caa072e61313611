"""`effrestore bench` through a real subprocess: every CPU backend, whole image and tiled, JSON rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "effrestore", "bench", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # five fresh benchmark processes
def test_bench_rows(models_dir: Path) -> None:
    common = ("--sizes", "200,256", "--repeats", "2", "--threads", "1", "--json")
    onnx_backends = ("--backends", "onnxruntime,openvino")
    onnx_rows = json.loads(
        bench("--model", str(models_dir / "conv.onnx"), *onnx_backends, *common, "--tile", "160").stdout
    )
    torch_rows = json.loads(
        bench("--model", str(models_dir / "conv.safetensors"), "--backends", "torch", "--device", "cpu", *common).stdout
    )
    assert [(r["backend"], r["size"], r["tile"]) for r in onnx_rows] == [
        ("onnxruntime", 200, 160),
        ("onnxruntime", 256, 160),
        ("openvino", 200, 160),
        ("openvino", 256, 160),
    ]
    assert [(r["backend"], r["size"], r["tile"]) for r in torch_rows] == [("torch", 200, None), ("torch", 256, None)]
    for row in onnx_rows + torch_rows:
        assert row["median_s"] > 0 and row["peak_bytes"] > 10 * 2**20
        assert row["device"] == "cpu" and row["peak_method"] in ("VmHWM", "rss-after")
        assert abs(row["megapixels_per_second"] - row["size"] ** 2 / 1e6 / row["median_s"]) < 1e-9
    table = bench("--model", str(models_dir / "conv.onnx"), "--sizes", "64", "--repeats", "1")
    assert table.returncode == 0 and "MP/s" in table.stdout
    bad = bench("--model", str(models_dir / "conv.onnx"), "--sizes", "64,big")
    assert bad.returncode == 2 and "comma-separated numbers" in bad.stderr
    budget = ("--mem-budget", "200MiB", "--repeats", "1", "--json")
    mixed = bench("--model", str(models_dir / "conv.onnx"), "--sizes", "64,2048", *budget)
    small, big = json.loads(mixed.stdout)
    assert mixed.returncode == 1 and small["median_s"] > 0 and "error" not in small
    assert big["size"] == 2048 and "budget" in big["error"]
    assert "1 of 2 cells failed" in mixed.stderr and "MemoryBudgetError" not in mixed.stderr


def test_profile_shows_where_the_time_goes(models_dir: Path) -> None:
    """Each runtime's own profiler: op types it ran, shares that add up, the layout share among them."""
    model = str(models_dir / "glmha.onnx")
    common = ("--sizes", "64", "--repeats", "2", "--threads", "1", "--profile")
    rows = json.loads(bench("--model", model, "--backends", "openvino,onnxruntime", *common, "--json").stdout)
    convolutions = {"openvino": "Convolution", "onnxruntime": "Conv"}
    for row in rows:
        profile = row["profile"]
        ops = {op["op_type"]: op for op in profile["ops"]}
        assert convolutions[row["backend"]] in ops and all(op["nodes"] >= 1 for op in ops.values())
        assert abs(sum(op["share"] for op in profile["ops"]) - 1) < 1e-6
        assert 0 < profile["seconds_per_call"] < 10 * row["median_s"]
        assert 0 <= profile["layout_share"] < 1
    table = bench("--model", model, *common)
    assert table.returncode == 0 and table.stdout.count("where the time goes") == 1  # auto: one backend
    assert "layout ops" in table.stdout and "ms per call" in table.stdout
    torch_row = bench("--model", str(models_dir / "glmha.safetensors"), "--backends", "torch", *common)
    assert torch_row.returncode == 1 and "no per-op profiler" in torch_row.stderr
