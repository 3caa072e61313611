"""Bad input to export and ONNX loading: typed errors, non-zero CLI exit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from effrestore.errors import ExportError, OnnxModelError
from effrestore.export import export_onnx
from effrestore.models import build_model
from effrestore.onnx_files import load_onnx


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.safetensors", "no such checkpoint"),
        (
            lambda p: (p / "corrupt.safetensors").write_bytes(b"\x10\x00garbage") and p / "corrupt.safetensors",
            "not a readable safetensors",
        ),
        (lambda p: p / "restormer-xxl", "neither a checkpoint file nor a registered model"),
    ],
    ids=["missing", "corrupt", "unknown"],
)
def test_cli_bad_checkpoints(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    source = make(tmp_path)
    out = tmp_path / "out.onnx"
    result = cli("export", str(source if "xxl" not in str(source) else "restormer-xxl"), "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_old_opset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="opset 16 is too old"):
        export_onnx(build_model("restormer-xs"), tmp_path / "m.onnx", opset=16)
    result = cli("export", "restormer-xs", "-o", str(tmp_path / "m.onnx"), "--opset", "16")
    assert result.returncode == 2 and "opset 16 is too old" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_external_data_outside_folder_is_refused(tmp_path: Path) -> None:
    tensor = onnx.helper.make_tensor("w", onnx.TensorProto.FLOAT, [1], [1.0])
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        [tensor],
    )
    path = tmp_path / "evil.onnx"
    path.write_bytes(onnx.helper.make_model(graph).SerializeToString())
    with pytest.raises(OnnxModelError, match="outside the model's folder"):
        load_onnx(path)
    result = cli("inspect", str(path))
    assert result.returncode == 2 and "outside the model's folder" in result.stderr


def test_corrupt_onnx(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"definitely not protobuf \xff\xfe")
    with pytest.raises(OnnxModelError, match="not a readable ONNX model"):
        load_onnx(path)
