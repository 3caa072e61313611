"""What a hostile file puts in a name, in metadata or in a runtime's message reaches the terminal escaped,
short and with a reason; a model that allocates without bound is a typed error; external data is checked
wherever it hides. Real CLI subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from onnx import TensorProto, helper, numpy_helper

from .._models import external_tensor, graph_model, identity_model
from .test_hardening import assert_user_error, cli

ESCAPES = ("\x1b", "\x07", "\x9b")


def foreign_op_model(path: Path, domain: str) -> Path:
    return graph_model(path, [helper.make_node("Mystery", ["input"], ["output"], domain=domain)], domains=(domain,))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    identity_model(tmp_path / "id.onnx")
    from PIL import Image

    Image.new("RGB", (32, 24)).save(tmp_path / "img.png")
    return tmp_path


def test_escape_sequences_in_a_file_name_are_printed_escaped(folder: Path) -> None:
    name = "\x1b]0;owned\x07\x1b[2J.png"
    (folder / name).write_bytes(b"not an image")
    result = cli("run", name, "-o", "out.png", "--model", "id.onnx", cwd=folder)
    assert_user_error(result, "\\x1b]0;owned\\x07")
    assert not any(code in result.stderr for code in ESCAPES), repr(result.stderr)


def test_inspect_escapes_and_caps_metadata(folder: Path) -> None:
    identity_model(folder / "loud.onnx", {"effrestore.title": "\x1b]52;c;ZWNobyBoaQ==\x07" + "x" * 1_000_000})
    result = cli("inspect", "loud.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert not any(code in result.stdout for code in ESCAPES), repr(result.stdout[:300])
    assert "\\x1b]52" in result.stdout and "more characters" in result.stdout
    assert len(result.stdout) < 20_000


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_a_runtime_load_error_gives_its_reason_and_no_wrong_advice(folder: Path, backend: str) -> None:
    foreign_op_model(folder / "foreign.onnx", "com.example")
    result = cli("run", "img.png", "-o", "o.png", "--model", "foreign.onnx", "--backend", backend, cwd=folder)
    assert_user_error(result, "cannot load this model", "Mystery")
    assert "decomposed" not in result.stderr and "core.cpp" not in result.stderr.split("Mystery")[0][-60:]
    ours = cli("run", "img.png", "-o", "o.png", "--model", str(foreign_op_model(folder / "ours.onnx", "effrestore")),
               "--backend", backend, cwd=folder)  # fmt: skip
    assert_user_error(ours, "--attention-ops decomposed")


def test_inspect_suggests_decomposing_only_effrestores_own_ops(folder: Path) -> None:
    foreign_op_model(folder / "foreign.onnx", "com.example")
    foreign_op_model(folder / "ours.onnx", "effrestore")
    assert "decomposed" not in cli("inspect", "foreign.onnx", cwd=folder).stdout
    assert "decomposed" in cli("inspect", "ours.onnx", cwd=folder).stdout


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_a_model_allocating_100_gb_is_a_typed_error(folder: Path, backend: str) -> None:
    shape = numpy_helper.from_array(np.array([25_000_000_000], np.int64), "shape")
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["huge"]),
        helper.make_node("ReduceMax", ["huge"], ["peak"], keepdims=0),
        helper.make_node("Add", ["input", "peak"], ["output"]),
    ]
    graph_model(folder / "huge.onnx", nodes, [shape])
    result = cli("run", "img.png", "-o", "o.png", "--model", "huge.onnx", "--backend", backend, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert "internal error" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (folder / "o.png").exists()


def subgraph_data_model(path: Path, location: str) -> Path:
    """output = input + (If true: a Constant whose tensor is external data at `location`)."""
    value = helper.make_tensor_value_info
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["zero"], value=external_tensor("z", location))],
        "branch",
        [],
        [value("zero", TensorProto.FLOAT, [1])],
    )
    condition = numpy_helper.from_array(np.array(True), "condition")
    nodes = [
        helper.make_node("If", ["condition"], ["offset"], then_branch=branch, else_branch=branch),
        helper.make_node("Add", ["input", "offset"], ["output"]),
    ]
    return graph_model(path, nodes, [condition])


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_external_data_in_a_subgraph_is_checked_too(folder: Path, backend: str) -> None:
    (folder / "m").mkdir()
    model = subgraph_data_model(folder / "m" / "sub.onnx", "../../../../etc/passwd")
    result = cli("run", "img.png", "-o", "o.png", "--model", str(model), "--backend", backend, cwd=folder)
    assert_user_error(result, "points outside the model's folder")


def test_a_hard_linked_data_file_is_refused(folder: Path) -> None:
    (folder / "m").mkdir()
    (folder / "secret.bin").write_bytes(b"\0" * 16)
    os.link(folder / "secret.bin", folder / "m" / "data.bin")
    model = identity_model(folder / "m" / "linked.onnx", external="data.bin")
    result = cli("run", "img.png", "-o", "o.png", "--model", str(model), cwd=folder)
    assert_user_error(result, "hard link")
    assert not (folder / "o.png").exists()


def endless_loop_model(path: Path) -> Path:
    """output = input + 0 × (a Loop of 10^12 additions): a call that holds the interpreter for hours."""
    value = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc", "one"], ["acc_out"])],
        "body",
        [value("i", TensorProto.INT64, []), value("cond_in", TensorProto.BOOL, []),
         value("acc", TensorProto.FLOAT, [1])],
        [value("cond_out", TensorProto.BOOL, []), value("acc_out", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(np.ones((1,), np.float32), "one")],
    )  # fmt: skip
    constants = [
        numpy_helper.from_array(np.array(10**12, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "go"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "start"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "nothing"),
    ]
    nodes = [
        helper.make_node("Loop", ["trips", "go", "start"], ["total"], body=body),
        helper.make_node("Mul", ["total", "nothing"], ["zero"]),
        helper.make_node("Add", ["input", "zero"], ["output"]),
    ]
    return graph_model(path, nodes, constants)


def test_sigterm_ends_a_run_stuck_in_one_long_backend_call(folder: Path) -> None:
    endless_loop_model(folder / "endless.onnx")
    run = subprocess.Popen(
        [sys.executable, "-m", "effrestore", "run", "img.png", "-o", "o.png", "--model", "endless.onnx",
         "--backend", "onnxruntime"],
        cwd=folder, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        process = psutil.Process(run.pid)
        deadline = time.monotonic() + 120
        while process.cpu_times().user < 5 and time.monotonic() < deadline:  # well inside the Loop by then
            time.sleep(0.5)
        run.send_signal(signal.SIGTERM)
        terminated_at = time.monotonic()
        _, stderr = run.communicate(timeout=30)
        ended_after = time.monotonic() - terminated_at
    finally:
        run.kill()
    assert run.returncode == 143 and "terminated during a backend call" in stderr, (run.returncode, stderr)
    assert ended_after < 15, ended_after
    assert not (folder / "o.png").exists() and not list(folder.glob(".*.partial"))


def png16_with_a_short_icc_chunk(path: Path) -> Path:
    import struct
    import zlib

    import imagecodecs

    encoded = imagecodecs.png_encode(np.zeros((8, 8, 3), np.uint16))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(encoded[:33] + chunk(b"iCCP", b"x\x00\x00" + zlib.compress(b"short")) + encoded[33:])
    return path


def tiff_with_a_circular_ifd(path: Path) -> Path:
    import struct

    import tifffile

    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    data = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[ifd : ifd + 2])[0]
    data[ifd + 2 + 12 * entries : ifd + 6 + 12 * entries] = struct.pack("<I", ifd)  # the next IFD is itself
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make", [png16_with_a_short_icc_chunk, tiff_with_a_circular_ifd], ids=["libpng", "tifffile"])
def test_library_warnings_are_one_line_notes(folder: Path, make: object) -> None:
    source = make(folder / ("odd.png" if "png" in make.__name__ else "odd.tif"))  # type: ignore[operator]
    result = cli("run", source.name, "-o", f"out{source.suffix}", "--model", "id.onnx", cwd=folder)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("note: ") for line in lines), result.stderr
