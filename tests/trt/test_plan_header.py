"""Plan-header reading on synthetic headers: TensorRT version without deserialising."""

from __future__ import annotations

from pathlib import Path

import pytest

from effrestore.errors import EngineError
from effrestore.trt.plan_header import read_plan_header

from .conftest import plan_bytes


def test_reads_the_version(tmp_path: Path) -> None:
    path = tmp_path / "m.plan"
    path.write_bytes(plan_bytes((10, 13, 0, 35)))
    header = read_plan_header(path)
    assert header.magic_ok and header.tensorrt_version == "10.13.0.35" and header.major_minor == "10.13"
    assert header.size == path.stat().st_size


def test_unrecognised_headers(tmp_path: Path) -> None:
    onnx_like = tmp_path / "not.plan"
    onnx_like.write_bytes(b"\x08\x07\x12\x07pytorch" + b"\0" * 40)
    header = read_plan_header(onnx_like)
    assert not header.magic_ok and header.tensorrt_version is None
    short = tmp_path / "short.plan"
    short.write_bytes(b"ftrt\0\0")
    assert read_plan_header(short).tensorrt_version is None
    old = tmp_path / "old.plan"
    old.write_bytes(plan_bytes((0, 0, 0, 0)))
    assert read_plan_header(old).magic_ok and read_plan_header(old).tensorrt_version is None
    with pytest.raises(EngineError, match="cannot read the engine file"):
        read_plan_header(tmp_path / "missing.plan")
