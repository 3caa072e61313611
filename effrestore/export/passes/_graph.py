"""Small helpers over `onnx.GraphProto` shared by the rewrite passes."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper


class GraphIndex:
    """Producer/consumer maps and constant look-ups of one graph (rebuild after editing)."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for out in node.output:
                self.producer[out] = node
            for name in node.input:
                if name:
                    self.consumers[name].append(node)
        self.initializers = {t.name: t for t in graph.initializer}
        self.graph_outputs = {o.name for o in graph.output}
        self.graph_inputs = {i.name for i in graph.input}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of `name` if it is an initializer or a Constant node's output."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
                if attr.name in ("value_float", "value_int"):
                    return np.array(onnx.helper.get_attribute_value(attr))
        return None

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in self.graph_outputs else None


def inferred_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """tensor -> its dims after ONNX shape inference (None where a dim is symbolic or unknown)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return shapes


def add_initializer(graph: onnx.GraphProto, value: np.ndarray, stem: str) -> str:
    """Stores `value` as a new initializer under a fresh name derived from `stem`; returns the name."""
    name = fresh_name(stem)
    graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def reduce_axes(index: GraphIndex, node: onnx.NodeProto) -> list[int] | None:
    """A Reduce* node's axes, from its second input (opset >= 18) or its attribute; None if not constant."""
    if len(node.input) > 1 and node.input[1]:
        axes = index.constant(node.input[1])
        return None if axes is None else [int(a) for a in np.ravel(axes)]
    axes = attribute(node, "axes")
    return None if axes is None else [int(a) for a in axes]


def splice(graph: onnx.GraphProto, replaced: dict[int, list[onnx.NodeProto]]) -> None:
    """Puts each node's replacement list (keyed by `id(node)`) in its place, keeping topological order,
    and drops the constants no node reads any more (the weights a pass replaced by sliced copies)."""
    nodes = [n for node in graph.node for n in replaced.get(id(node), [node])]
    read = {name for node in nodes for name in node.input} | {o.name for o in graph.output}
    nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] in read]
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def attribute(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


_counter = itertools.count()


def fresh_name(stem: str) -> str:
    return f"{stem}__{next(_counter)}"


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    """op type (with domain prefix for non-default domains) -> count."""
    counts: dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        counts[f"{node.domain}::{node.op_type}" if node.domain else node.op_type] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
