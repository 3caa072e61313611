"""fp16: float16 weights and activations, with fp32 islands where fp16 overflows or loses too much.

Kept in float32 (the known causes of fp16 NaN/black output in restoration transformers):
LayerNormalization, Softmax, L2/Lp normalisation, ReduceMean/ReduceSum/ReduceSumSquare (Σ over pixels of
squares reaches the fp16 maximum at 256²), Pow/Sqrt/Exp/Log, the effrestore custom ops, and any node whose
non-constant float inputs all come from float32 nodes (so `var + eps -> Sqrt` stays fp32 after a
reduction). `nchw-layernorm`'s channel means are 1×1 convolutions: the variance's reads `Pow`, so it stays
float32 by that rule; the mean of the activations is an average (weights 1/C), which cannot overflow, and
runs in fp16 like its input. The graph inputs and outputs stay float32; Casts are inserted at every
precision boundary.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from effrestore.errors import InternalError
from effrestore.export.custom_ops import DOMAIN
from effrestore.export.passes._graph import GraphIndex, attribute, fresh_name
from effrestore.export.passes.registry import register_pass

FP32_OPS = {
    "LayerNormalization",
    "Softmax",
    "LpNormalization",
    "ReduceL2",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "Pow",
    "Sqrt",
    "Exp",
    "Log",
}
FIXED_FP32_INPUTS = {"Resize": {1, 2}}  # roi and scales must be float32 whatever the data type
FLOAT = TensorProto.FLOAT
HALF = TensorProto.FLOAT16


def _float_values(model: onnx.ModelProto) -> set[str]:
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    names = {v.name for v in infos if v.type.tensor_type.elem_type == FLOAT}
    names |= {t.name for t in model.graph.initializer if t.data_type == FLOAT}
    for node in model.graph.node:
        value = attribute(node, "value") if node.op_type == "Constant" else None
        if value is not None and value.data_type == FLOAT:
            names.add(node.output[0])
    return names


def precision_plan(model: onnx.ModelProto, floats: set[str]) -> dict[str, int]:
    """node name -> FLOAT or HALF, in graph order."""
    index = GraphIndex(model.graph)
    value_precision: dict[str, int] = {}
    plan: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        produced = [
            value_precision[n] for n in node.input if n in floats and n in value_precision and index.constant(n) is None
        ]
        keep = node.op_type in FP32_OPS or node.domain == DOMAIN or (produced and all(p == FLOAT for p in produced))
        plan[node.name] = FLOAT if keep else HALF
        for out in node.output:
            if out in floats:
                value_precision[out] = plan[node.name]
    return plan


@register_pass("fp16")
def fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"node_{i}"
    floats = _float_values(model)
    plan = precision_plan(model, floats)
    index = GraphIndex(model.graph)
    graph_io = {i.name for i in model.graph.input} | {o.name for o in model.graph.output}

    # Constants: stored in the precision of their consumers (fp16 if every consumer is fp16).
    def wanted(node: onnx.NodeProto, position: int) -> int:
        return FLOAT if position in FIXED_FP32_INPUTS.get(node.op_type, ()) else plan.get(node.name, FLOAT)

    def consumer_precision(name: str) -> int:
        users = [wanted(c, i) for c in index.consumers.get(name, []) for i, n in enumerate(c.input) if n == name]
        return HALF if users and all(u == HALF for u in users) and name not in graph_io else FLOAT

    stored: dict[str, int] = {}
    for init in model.graph.initializer:
        if init.data_type == FLOAT:
            stored[init.name] = consumer_precision(init.name)
            if stored[init.name] == HALF:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] in floats:
            stored[node.output[0]] = consumer_precision(node.output[0])
            if stored[node.output[0]] == HALF:
                value = numpy_helper.to_array(attribute(node, "value")).astype(np.float16)
                del node.attribute[:]
                node.attribute.append(onnx.helper.make_attribute("value", numpy_helper.from_array(value)))

    precision_of = dict(stored)
    precision_of.update({i.name: FLOAT for i in model.graph.input})
    new_nodes: list[onnx.NodeProto] = []
    casts: dict[tuple[str, int], str] = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            new_nodes.append(node)
            continue
        want = plan[node.name]
        if node.op_type != "Cast":  # Cast accepts any input type
            for position, name in enumerate(node.input):
                if name in floats and precision_of.get(name, FLOAT) != wanted(node, position):
                    want_here = wanted(node, position)
                    key = (name, want_here)
                    if key not in casts:
                        casts[key] = fresh_name(f"{name}_as_{'fp16' if want_here == HALF else 'fp32'}")
                        new_nodes.append(
                            onnx.helper.make_node("Cast", [name], [casts[key]], to=want_here, name=fresh_name("Cast"))
                        )
                    node.input[position] = casts[key]
        elif attribute(node, "to") == FLOAT:
            node.attribute[0].CopyFrom(onnx.helper.make_attribute("to", want))
        new_nodes.append(node)
        for out in node.output:
            if out in floats:
                precision_of[out] = want

    outputs = {o.name for o in model.graph.output}
    for node in new_nodes:  # graph outputs produced in fp16 get a final Cast back to fp32
        for position, out in enumerate(node.output):
            if out in outputs and precision_of.get(out) == HALF:
                half_name = fresh_name(f"{out}_fp16")
                node.output[position] = half_name
                new_nodes.append(onnx.helper.make_node("Cast", [half_name], [out], to=FLOAT, name=fresh_name("Cast")))
                precision_of[out] = FLOAT
                break
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    del model.graph.value_info[:]
    _ensure_io_and_islands_fp32(model)
    return model


def _ensure_io_and_islands_fp32(model: onnx.ModelProto) -> None:
    """The pass's promise, checked: graph I/O and the precision-critical ops are float32."""
    for value in [*model.graph.input, *model.graph.output]:
        if value.type.tensor_type.elem_type != FLOAT:
            raise InternalError(f"fp16 pass changed graph I/O {value.name!r} away from float32")
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for node in model.graph.node:
        if node.op_type in FP32_OPS and types.get(node.output[0], FLOAT) != FLOAT:
            raise InternalError(f"fp16 pass left {node.op_type} {node.name!r} in float16")
