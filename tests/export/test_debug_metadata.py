"""Exported files carry no exporter debug metadata (stack traces with the exporting machine's paths) unless
asked, subgraphs included, and the shipped models are clean too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import effrestore
from effrestore.export import export_onnx
from effrestore.export.debug_metadata import strip_debug_metadata
from effrestore.zoo import list_zoo
from tests.export.test_parity import tiny

PACKAGE_FOLDER = str(Path(effrestore.__file__).parent).encode()


def debug_entries(graph: onnx.GraphProto) -> int:
    values = (*graph.input, *graph.output, *graph.value_info, *graph.initializer)
    count = len(graph.metadata_props) + sum(len(v.metadata_props) for v in values)
    for node in graph.node:
        count += len(node.metadata_props)
        for attribute in node.attribute:
            count += sum(debug_entries(g) for g in ([attribute.g] if attribute.HasField("g") else []))
    return count


@pytest.mark.parametrize("keep", [False, True])
def test_export_drops_the_stack_traces_unless_asked(tmp_path: Path, keep: bool) -> None:
    path = tmp_path / "m.onnx"
    export_onnx(tiny("glmha"), path, verify_parity=False, keep_debug_metadata=keep)
    model = onnx.load(str(path))
    keys = {p.key for node in model.graph.node for p in node.metadata_props}
    assert ("pkg.torch.onnx.stack_trace" in keys) is keep
    assert (PACKAGE_FOLDER in path.read_bytes()) is keep, "the machine's paths leave with the debug metadata"
    assert any(p.key == "effrestore.task" for p in model.metadata_props), "effrestore's own metadata stays"


def test_subgraphs_are_stripped_and_the_computation_is_kept() -> None:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "branch", [], [helper.make_tensor_value_info("y", 1, [2])]
    )
    helper.set_metadata_props(branch.node[0], {"pkg.torch.onnx.stack_trace": "/home/someone/model.py"})
    node = helper.make_node("If", ["c"], ["out"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("x", 1, [2])],
        [helper.make_tensor_value_info("out", 1, [2])],
    )
    model = helper.make_model(graph)
    assert strip_debug_metadata(model) == 2
    assert debug_entries(model.graph) == 0 and b"/home/someone" not in model.SerializeToString()
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString())
    x = np.array([1.0, 2.0], np.float32)
    assert np.array_equal(session.run(None, {"c": np.array(True), "x": x})[0], x)


@pytest.mark.parametrize("entry", list_zoo(), ids=lambda e: e.name)
def test_shipped_models_hold_no_debug_metadata(entry) -> None:  # type: ignore[no-untyped-def]
    model = onnx.load(str(entry.onnx))
    assert debug_entries(model.graph) == 0
