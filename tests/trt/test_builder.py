"""What `build_engine` decides before TensorRT is touched: ONNX facts, plugins needed, request validation."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import helper

from effrestore.errors import ConfigError, EngineError
from effrestore.export.custom_ops import DOMAIN
from effrestore.model_file import ModelFile
from effrestore.trt.builder import build_engine
from effrestore.trt.manifest import Plugin

from .conftest import META, graph_model


def test_onnx_facts(tmp_path: Path, identity_onnx: Path) -> None:
    facts = ModelFile.at(identity_onnx)
    assert (*facts.io_names, facts.plugins) == ("input", "output", ())
    assert facts.meta == META and len(facts.sha256) == 64
    nodes = [
        helper.make_node("MDTA", ["input"], ["a"], domain=DOMAIN, plugin_namespace="effrestore", plugin_version="1"),
        helper.make_node("GLMHA", ["a"], ["b"], domain=DOMAIN, plugin_namespace="effrestore", plugin_version="1"),
        helper.make_node("MDTA", ["b"], ["output"], domain=DOMAIN, plugin_namespace="effrestore", plugin_version="1"),
    ]
    path = tmp_path / "plugins.onnx"
    onnx.save(graph_model(nodes, extra_opsets={DOMAIN: 1}), path)
    assert ModelFile.at(path).plugins == (Plugin("GLMHA", "effrestore", "1"), Plugin("MDTA", "effrestore", "1"))


def test_bad_requests_fail_before_tensorrt_is_needed(tmp_path: Path, identity_onnx: Path) -> None:
    with pytest.raises(ConfigError, match="multiple of 8"):
        build_engine(identity_onnx, tmp_path / "m.plan", tiles=(100,))
    two_outputs = graph_model([helper.make_node("Split", ["input"], ["output", "other"], axis=1, num_outputs=2)])
    two_outputs.graph.output.append(helper.make_tensor_value_info("other", onnx.TensorProto.FLOAT, None))
    path = tmp_path / "two.onnx"
    onnx.save(two_outputs, path)
    with pytest.raises(EngineError, match="one image input and one output"):
        build_engine(path, tmp_path / "m.plan")
    with pytest.raises(EngineError, match=r"tensorrt is not installed: pip install 'effrestore\[tensorrt\]'"):
        build_engine(identity_onnx, tmp_path / "m.plan", tiles=(64, 128), target="tensorrt")
    with pytest.raises(ConfigError, match="no Hopper"):
        build_engine(identity_onnx, tmp_path / "m.plan", target="tensorrt-rtx", compute_capabilities=("9.0",))
    assert not (tmp_path / "m.plan").exists()
