"""The ONNX -> TensorRT compatibility check on graphs with supported and unsupported parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from effrestore.export.custom_ops import DOMAIN, exportable_families
from effrestore.onnx_files import load_onnx
from effrestore.trt.onnx_support import PLUGIN_DOMAIN, PLUGIN_OPS, check_tensorrt_support, summarize

from .conftest import graph_model


def errors(model) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.message for f in check_tensorrt_support(model) if f.severity == "error"]


def weight(name: str, shape: tuple[int, ...]) -> TensorProto:
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def test_supported_graph_passes() -> None:
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("LayerNormalization", ["c", "g"], ["n"], axis=1),
        helper.make_node("Softmax", ["n"], ["s"], axis=1),
        helper.make_node("Resize", ["s", "", "scales"], ["output"], mode="linear"),
    ]
    init = [weight("w", (3, 3, 3, 3)), weight("g", (3,)), numpy_helper.from_array(np.ones(4, np.float32), "scales")]
    findings = check_tensorrt_support(graph_model(nodes, initializers=init))
    assert not [f for f in findings if f.severity == "error"]
    assert "builds with TensorRT" in summarize(findings)


def test_unsupported_parts_are_listed() -> None:
    nodes = [
        helper.make_node("Unique", ["input"], ["u"]),
        helper.make_node("Conv", ["u", "w1d"], ["c"]),
        helper.make_node("Resize", ["c", "roi", "scales"], ["r"], coordinate_transformation_mode="tf_crop_and_resize"),
        helper.make_node("MaxPool", ["r"], ["m", "indices"], kernel_shape=[2, 2]),
        helper.make_node("Einsum", ["m", "m"], ["e"], equation="...ij,...jk->...ik"),
        helper.make_node("FusedGelu", ["e"], ["output"], domain="com.example"),
    ]
    model = graph_model(nodes, initializers=[weight("w1d", (3, 3, 3))], extra_opsets={"com.example": 1})
    found = errors(model)
    expected = ["Unique is not supported", "2D or 3D only, this one is 1D", "tf_crop_and_resize", "Indices output",
                "ellipsis", "no TensorRT plugin is known for com.example::FusedGelu"]  # fmt: skip
    for text in expected:
        assert any(text in message for message in found), (text, found)
    assert "6 problem(s)" in summarize(check_tensorrt_support(model))


def test_types_opsets_and_plugins() -> None:
    assert any("string" in m for m in errors(graph_model([helper.make_node("Identity", ["input"], ["output"])],
                                                          elem=TensorProto.STRING)))  # fmt: skip
    doubles = check_tensorrt_support(
        graph_model([helper.make_node("Identity", ["input"], ["output"])], elem=TensorProto.DOUBLE)
    )
    assert [f.severity for f in doubles] == ["warning", "warning"]
    assert any(
        "older than" in m for m in errors(graph_model([helper.make_node("Relu", ["input"], ["output"])], opset=7))
    )
    plugin = helper.make_node("MDTA", ["input"], ["output"], domain=DOMAIN, plugin_namespace="effrestore",
                              plugin_version="1", heads=1)  # fmt: skip
    findings = check_tensorrt_support(graph_model([plugin], extra_opsets={DOMAIN: 1}))
    assert [f.severity for f in findings] == ["note"] and "plugin" in findings[0].message
    bare = helper.make_node("MDTA", ["input"], ["output"], domain=DOMAIN, heads=1)
    assert any("plugin_namespace" in m for m in errors(graph_model([bare], extra_opsets={DOMAIN: 1})))


def test_plugin_table_matches_the_custom_ops() -> None:
    assert PLUGIN_DOMAIN == DOMAIN and set(exportable_families()) == PLUGIN_OPS


def test_exported_models_pass(models_dir: Path) -> None:
    for name in ("conv", "glmha"):
        assert errors(load_onnx(models_dir / f"{name}.onnx")) == []
