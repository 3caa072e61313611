"""Checks an ONNX graph against the ONNX-TensorRT parser's documented operator support and restrictions
(onnx-tensorrt `docs/operators.md`), so `effrestore inspect --target tensorrt` lists what will fail to build
before anyone waits for a build on a GPU machine."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

import onnx

Severity = Literal["error", "warning", "note"]
PLUGIN_DOMAIN = "effrestore"
PLUGIN_OPS = frozenset({"LinearSA", "MDTA", "GLMHA", "GSA", "STT"})  # effrestore.trt.plugins provides these
MIN_OPSET, MAX_OPSET = 9, 22

# Marked unsupported ("N") in the parser's operator matrix.
UNSUPPORTED = frozenset(
    {
        "Bernoulli", "BitShift", "Compress", "ConcatFromSequence", "ConvInteger", "Det", "DynamicQuantizeLinear",
        "MatMulInteger", "MaxRoiPool", "MaxUnpool", "Multinomial", "NegativeLogLikelihoodLoss", "QLinearConv",
        "QLinearMatMul", "RandomNormal", "RandomNormalLike", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
        "SequenceErase", "SequenceInsert", "SequenceLength", "SoftmaxCrossEntropyLoss", "SplitToSequence",
        "StringNormalizer", "TfIdfVectorizer", "Unique", "Optional", "OptionalGetElement", "OptionalHasElement",
        "StringConcat", "StringSplit", "RegexFullMatch", "ImageDecoder",
    }
)  # fmt: skip
_SPATIAL_2D_3D = frozenset({"Conv", "ConvTranspose", "AveragePool", "MaxPool"})
_BAD_TYPES = {onnx.TensorProto.STRING: "string", onnx.TensorProto.COMPLEX64: "complex64",
              onnx.TensorProto.COMPLEX128: "complex128"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    node: str = ""
    op: str = ""


def _attribute(node: onnx.NodeProto, name: str) -> object:
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return None


def _initializer_ranks(model: onnx.ModelProto) -> dict[str, int]:
    return {init.name: len(init.dims) for init in model.graph.initializer}


def _node_findings(node: onnx.NodeProto, ranks: dict[str, int], plugins: bool) -> list[Finding]:
    label, op = node.name or (node.output[0] if node.output else "?"), node.op_type
    where = {"node": label, "op": op}
    if node.domain not in ("", "ai.onnx"):
        if node.domain == PLUGIN_DOMAIN and op in PLUGIN_OPS:
            if _attribute(node, "plugin_namespace") is None or _attribute(node, "plugin_version") is None:
                return [Finding("error", f"{op} lacks plugin_namespace/plugin_version; re-export it", **where)]
            if not plugins:
                return [
                    Finding(
                        "warning",
                        f"effrestore::{op}: this TensorRT has no plugins, so `effrestore build` "
                        "decomposes it into ONNX ops first (the decompose-attention pass)",
                        **where,
                    )
                ]
            return [Finding("note", f"effrestore::{op} needs effrestore's TensorRT plugin (TensorRT >= 10.7, torch)",
                            **where)]  # fmt: skip
        return [Finding("error", f"no TensorRT plugin is known for {node.domain}::{op}", **where)]
    if op in UNSUPPORTED:
        return [Finding("error", f"{op} is not supported by the ONNX-TensorRT parser", **where)]
    findings = []
    if op in _SPATIAL_2D_3D:
        weight_rank = ranks.get(node.input[1]) if op.startswith("Conv") and len(node.input) > 1 else None
        kernel = _attribute(node, "kernel_shape")
        spatial = weight_rank - 2 if weight_rank else (len(kernel) if isinstance(kernel, list) else None)
        if spatial is not None and spatial not in (2, 3):
            findings.append(Finding("error", f"{op} is supported in 2D or 3D only, this one is {spatial}D", **where))
    if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        findings.append(Finding("error", "MaxPool's Indices output is not supported", **where))
    if op == "Resize" and _attribute(node, "coordinate_transformation_mode") == b"tf_crop_and_resize":
        findings.append(Finding("error", "Resize with tf_crop_and_resize is not supported", **where))
    if op == "Einsum" and b"..." in (_attribute(node, "equation") or b""):  # type: ignore[operator]
        findings.append(Finding("error", "Einsum with an ellipsis is not supported", **where))
    return findings


def _type_findings(model: onnx.ModelProto) -> list[Finding]:
    findings = []
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    for value in values:
        elem = value.type.tensor_type.elem_type
        if elem in _BAD_TYPES:
            findings.append(Finding("error", f"tensor {value.name!r} is {_BAD_TYPES[elem]}, which TensorRT lacks"))
        elif elem == onnx.TensorProto.DOUBLE:
            findings.append(Finding("warning", f"tensor {value.name!r} is float64; TensorRT casts it to float32"))
    return findings


def check_tensorrt_support(model: onnx.ModelProto, plugins: bool = True) -> list[Finding]:
    """Everything in `model` the ONNX-TensorRT parser rejects (errors) or changes (warnings); `plugins`:
    whether the flavour takes plugins (TensorRT for RTX does not)."""
    findings: list[Finding] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and opset < MIN_OPSET:
        findings.append(Finding("error", f"opset {opset} is older than the parser's minimum ({MIN_OPSET})"))
    elif opset is not None and opset > MAX_OPSET:
        findings.append(Finding("warning", f"opset {opset} is newer than the parser is documented for ({MAX_OPSET})"))
    if model.functions:
        names = ", ".join(sorted({f"{f.domain}::{f.name}" for f in model.functions}))
        findings.append(Finding("note", f"local functions ({names}) are inlined by TensorRT, not run as plugins"))
    ranks = _initializer_ranks(model)
    for node in model.graph.node:
        findings.extend(_node_findings(node, ranks, plugins))
    findings.extend(_type_findings(model))
    return findings


def summarize(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    if not counts["error"]:
        return f"builds with TensorRT as far as the parser's documentation says ({counts['warning']} warning(s))"
    return f"{counts['error']} problem(s) will stop a TensorRT build"
