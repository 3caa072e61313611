"""Rewrite passes, each on a before graph: what fires, what must not, and numerical parity after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from effrestore.errors import RewriteError
from effrestore.export import apply_passes, export_onnx
from effrestore.export.passes._graph import GraphIndex, inferred_shapes
from effrestore.export.passes.fp16 import FP32_OPS
from effrestore.export.passes.reassociate_linear_attention import find_chain
from effrestore.models import build_model

PROBE = Path(__file__).with_name("_reassoc_probe.py")


def chain_model(between: str, n: int | None = None) -> onnx.ModelProto:
    """((A·Bᵀ) / N)·V, or with a Softmax in place of the division."""
    step = "s = Softmax <axis = -1> (t)" if between == "softmax" else "s = Div (t, count)"
    dim = n if n is not None else "N"
    text = f"""
    <ir_version: 8, opset_import: ["" : 18]>
    g (float[1, {dim}, 8] A, float[1, {dim}, 8] B, float[1, {dim}, 16] V) => (float[1, {dim}, 16] Y) {{
        count = Constant <value = float {{ {float(n or 64)} }}> ()
        bt = Transpose <perm = [0, 2, 1]> (B)
        t = MatMul (A, bt)
        {step}
        Y = MatMul (s, V)
    }}"""
    return onnx.parser.parse_model(text)


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_reassociation_fires_and_matches() -> None:
    before = chain_model("div", n=64)
    after = apply_passes(before, ["reassociate-linear-attention"])
    ops = [n.op_type for n in after.graph.node if n.op_type != "Constant"]
    assert ops == ["Transpose", "MatMul", "Div", "MatMul"]
    rng = np.random.default_rng(0)
    feeds = {k: rng.random(s, dtype=np.float32) for k, s in (("A", (1, 64, 8)), ("B", (1, 64, 8)), ("V", (1, 64, 16)))}
    np.testing.assert_allclose(run(after, feeds), run(before, feeds), atol=1e-5, rtol=1e-5)
    onnx.checker.check_model(after, full_check=True)


def test_reassociation_refuses_softmax_between() -> None:
    before = chain_model("softmax")
    after = apply_passes(before, ["reassociate-linear-attention"])
    assert [n.op_type for n in after.graph.node] == [n.op_type for n in before.graph.node]
    index = GraphIndex(before.graph)
    outer = before.graph.node[-1]
    reason = find_chain(index, inferred_shapes(before), outer)
    assert isinstance(reason, str) and "Softmax" in reason


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux peak-RSS reset")
def test_reassociation_memory_drop_at_192x192(tmp_path: Path) -> None:
    n = 192 * 192
    quadratic = chain_model("div", n=n)
    onnx.save(quadratic, tmp_path / "quadratic.onnx")
    onnx.save(apply_passes(quadratic, ["reassociate-linear-attention"]), tmp_path / "linear.onnx")
    peaks = {}
    for name in ("quadratic", "linear"):
        out = subprocess.run(
            [sys.executable, str(PROBE), str(tmp_path / f"{name}.onnx")],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        peaks[name] = int(out.stdout)
    ratio = peaks["quadratic"] / max(peaks["linear"], 1)
    print(
        f"peak RSS growth: quadratic {peaks['quadratic'] / 2**20:.0f} MiB, "
        f"reassociated {peaks['linear'] / 2**20:.1f} MiB, ratio {ratio:.0f}x"
    )
    assert peaks["quadratic"] > 4 * 2**30
    assert ratio >= 10


@pytest.fixture(scope="module")
def exported_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_model("restormer-xs", attention="glmha", num_blocks=(1, 1, 1, 1), num_refinement_blocks=0).eval()
    path = tmp_path_factory.mktemp("ln") / "raw.onnx"
    export_onnx(model, path, passes=[], verify_parity=False)
    return path, model


def test_attention_heads_are_reshaped_channels_last(exported_pair: tuple[Path, torch.nn.Module]) -> None:
    """q, k and v reach the attention products as pixel rows: each Reshape feeding a MatMul reads a
    channels-last Transpose, the layout CPU runtimes keep convolution outputs in (a planar head reshape of a
    convolution's output cost OpenVINO a Reorder of each tensor)."""
    path, model = exported_pair
    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}

    def perm(node: onnx.NodeProto | None) -> list[int] | None:
        return list(node.attribute[0].ints) if node is not None and node.op_type == "Transpose" else None

    def feeding(name: str) -> onnx.NodeProto | None:
        node = producer.get(name)
        while perm(node) == [0, 2, 1]:  # a matrix transpose of the rows (qᵀ, the attention map's)
            node = producer.get(node.input[0])
        return node

    operands = [feeding(name) for node in graph.node if node.op_type == "MatMul" for name in node.input]
    head_reshapes = [node for node in operands if node is not None and node.op_type == "Reshape"]
    assert len(head_reshapes) == 3 * 7  # q, k, v of each of the 7 attention blocks
    assert all(perm(producer.get(node.input[0])) == [0, 2, 3, 1] for node in head_reshapes)
    _torch_parity(onnx.load(str(path)), model)


def test_fuse_layernorm_parity(exported_pair: tuple[Path, torch.nn.Module]) -> None:
    path, _ = exported_pair
    raw = onnx.load(str(path))
    fused = apply_passes(raw, ["fuse-layernorm"])
    count = sum(n.op_type == "LayerNormalization" for n in fused.graph.node)
    assert count == 14  # norm1 + norm2 of the 7 transformer blocks
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    np.testing.assert_allclose(run(fused, {"input": x}), run(raw, {"input": x}), atol=1e-5)


def test_fuse_layernorm_leaves_biasfree_alone(tmp_path: Path) -> None:
    model = build_model(
        "restormer-xs",
        attention="none",
        layernorm="BiasFree",
        num_blocks=(1, 1, 1, 1),
        num_refinement_blocks=0,
    )
    export_onnx(model, tmp_path / "bf.onnx", passes=[], verify_parity=False)
    fused = apply_passes(onnx.load(str(tmp_path / "bf.onnx")), ["fuse-layernorm"])
    assert not any(n.op_type == "LayerNormalization" for n in fused.graph.node)


@pytest.mark.slow  # exports and converts a model (~30 s)
def test_fp16_keeps_islands_and_psnr(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("restormer-xs", attention="mdta", num_blocks=(1, 1, 1, 1), num_refinement_blocks=0)
    report = export_onnx(model, tmp_path / "half.onnx", passes=["fuse-layernorm", "fp16"])
    assert all(c.psnr_db >= 40 for c in report.checks if c.label == "photo")
    half = onnx.load(str(tmp_path / "half.onnx"))
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    inferred = onnx.shape_inference.infer_shapes(half)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    assert any(t == onnx.TensorProto.FLOAT16 for t in types.values()), "nothing was converted"
    for node in half.graph.node:
        if node.op_type in FP32_OPS:
            assert types.get(node.output[0], onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT, node.op_type


def test_unknown_pass() -> None:
    with pytest.raises(RewriteError, match="unknown rewrite pass 'fuse-everything'"):
        apply_passes(chain_model("div"), ["fuse-everything"])


def _ops(model: onnx.ModelProto, op: str) -> int:
    return sum(n.op_type == op for n in model.graph.node)


def _raw_export(tmp_path: Path, attention: str, layernorm: str) -> tuple[onnx.ModelProto, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_model(
        "restormer-xs", attention=attention, layernorm=layernorm, num_blocks=(1, 1, 1, 1), num_refinement_blocks=0
    ).eval()
    export_onnx(model, tmp_path / "raw.onnx", passes=[], verify_parity=False)
    return onnx.load(str(tmp_path / "raw.onnx")), model


def _torch_parity(after: onnx.ModelProto, model: torch.nn.Module, atol: float = 1e-5) -> None:
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run(after, {"input": x}), reference, atol=atol)


def test_nchw_layernorm_removes_the_transposes(tmp_path: Path) -> None:
    raw, model = _raw_export(tmp_path, "none", "BiasFree")  # x/σ·w: not a standard LayerNorm
    after = apply_passes(raw, ["nchw-layernorm"])
    onnx.checker.check_model(after, full_check=True)
    assert _ops(raw, "Transpose") == 17 and _ops(raw, "ReduceMean") == 14  # 7 blocks x 2 norms, + the head
    assert _ops(after, "Transpose") == 3 and _ops(after, "ReduceMean") == 0  # the channel means are 1x1 Convs
    _torch_parity(after, model)


def test_nchw_layernorm_converts_a_fused_layernorm(exported_pair: tuple[Path, torch.nn.Module]) -> None:
    path, model = exported_pair
    fused = apply_passes(onnx.load(str(path)), ["fuse-layernorm"])
    after = apply_passes(fused, ["nchw-layernorm"])
    assert _ops(fused, "LayerNormalization") == 14 and _ops(after, "LayerNormalization") == 0
    assert _ops(after, "Transpose") == _ops(fused, "Transpose") - 28
    _torch_parity(after, model)


def test_split_projections_removes_the_qkv_and_gate_splits(tmp_path: Path) -> None:
    raw, model = _raw_export(tmp_path, "mdta", "WithBias")
    after = apply_passes(raw, ["split-projections"])
    onnx.checker.check_model(after, full_check=True)
    assert _ops(raw, "Split") == 14 and _ops(after, "Split") == 0  # q|k|v and the GDFN gate halves, 7 blocks
    assert _ops(after, "Conv") > _ops(raw, "Conv")
    read = {name for node in after.graph.node for name in node.input}
    assert all(t.name in read for t in after.graph.initializer), "the unsplit weights were left behind"
    _torch_parity(after, model)


@pytest.mark.slow  # one export per family (~30 s each)
@pytest.mark.parametrize("attention", ["mdta", "glmha", "linear_sa", "gsa", "stt"])
def test_layout_passes_parity_every_family(tmp_path: Path, attention: str) -> None:
    """BiasFree here; WithBias is every family's default export, checked against torch in test_parity."""
    raw, model = _raw_export(tmp_path, attention, "BiasFree")
    after = apply_passes(raw, ["nchw-layernorm", "split-projections", "fuse-layernorm"])
    onnx.checker.check_model(after, full_check=True)
    assert _ops(after, "Transpose") <= _ops(raw, "Transpose") - 28
    # GSA's own float32 error against torch is ~1e-5 before any pass; the passes may not add more than that
    _torch_parity(after, model, atol=3e-5 if attention == "gsa" else 1e-5)
