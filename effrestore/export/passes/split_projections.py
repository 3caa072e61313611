"""split-projections: a channel Split after a projection becomes one projection per part.

Restormer-style blocks project once to several tensors' channels and split after the depthwise conv
(MDTA's q|k|v, GLMHA's k|v, GDFN's gate halves). CPU runtimes copy a channel Split's parts out of the
blocked or channels-last buffer — OpenVINO with a reference kernel, ~11-15 % of the shipped models' time.
Every op between the projection and the Split acts per channel (depthwise conv, a per-channel gate), so
each part can be computed on its own from the part's slice of the weights; the FLOPs are the same.

    Conv(W) -> Conv(dw, D) -> Mul(gate) -> Split[a, b]
      ->  Conv(W[:a]) -> Conv(dw, D[:a]) -> Mul(gate[:a])   and   Conv(W[a:]) -> Conv(dw, D[a:]) -> Mul(gate[a:])

A gate that is not a constant ([B, C, 1, 1], e.g. GLMHA's instance guidance) is split itself: a tiny tensor.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from effrestore.export.passes._graph import (
    GraphIndex,
    add_initializer,
    attribute,
    fresh_name,
    inferred_shapes,
    splice,
)
from effrestore.export.passes.registry import register_pass

PER_CHANNEL_BINARY = {"Mul", "Add"}


class _Chain:
    """The ops from a full projection (group-1 Conv) down to a channel Split, nearest the Split first."""

    def __init__(self, index: GraphIndex, shapes: dict[str, list[int | None]], split: onnx.NodeProto) -> None:
        self.index = index
        self.shapes = shapes
        self.split = split
        self.ops: list[onnx.NodeProto] = []

    def find(self) -> bool:
        if attribute(self.split, "axis", 0) not in (1, -3) or self._rank(self.split.input[0]) != 4:
            return False
        name = self.split.input[0]
        while True:
            node = self.index.producer.get(name)
            if node is None or self.index.only_consumer(name) is None:
                return False
            if node.op_type == "Conv" and self._sliceable_conv(node):
                self.ops.append(node)
                if attribute(node, "group", 1) == 1:
                    return True
                name = node.input[0]
            elif node.op_type in PER_CHANNEL_BINARY and self._per_channel(node.input[1]):
                self.ops.append(node)
                name = node.input[0]
            else:
                return False

    @property
    def channels(self) -> int:
        return int(self.index.constant(self.ops[-1].input[1]).shape[0])

    def _rank(self, name: str) -> int | None:
        shape = self.shapes.get(name)
        return None if shape is None else len(shape)

    def _sliceable_conv(self, node: onnx.NodeProto) -> bool:
        weight = self.index.constant(node.input[1])
        if weight is None or (len(node.input) > 2 and node.input[2] and self.index.constant(node.input[2]) is None):
            return False
        group = attribute(node, "group", 1)
        return group == 1 or (group == weight.shape[0] and weight.shape[1] == 1)  # full or depthwise

    def _per_channel(self, name: str) -> bool:
        """A [C,1,1] or [N,C,1,1] operand with the chain's channel count (checked once the chain is known)."""
        shape = self.shapes.get(name)
        value = self.index.constant(name)
        if value is not None:
            shape = list(value.shape)
        return shape is not None and len(shape) in (3, 4) and shape[-2:] == [1, 1] and isinstance(shape[-3], int)

    def sizes(self) -> list[int] | None:
        count = len(self.split.output)
        if len(self.split.input) > 1 and self.split.input[1]:
            given = self.index.constant(self.split.input[1])
            return None if given is None else [int(s) for s in given]
        if attribute(self.split, "split") is not None:
            return [int(s) for s in attribute(self.split, "split")]
        chunk = -(-self.channels // count)  # num_outputs: equal parts, the last one smaller
        return [min(chunk, self.channels - i * chunk) for i in range(count)]


class _Parts:
    """Emits one copy of the chain per Split output, with sliced weights."""

    def __init__(self, graph: onnx.GraphProto, index: GraphIndex, chain: _Chain, sizes: list[int]) -> None:
        self.graph = graph
        self.index = index
        self.chain = chain
        self.bounds = np.cumsum([0, *sizes])
        self.gate_parts: dict[str, list[str]] = {}
        self.nodes: list[onnx.NodeProto] = []

    def _slice(self, name: str, part: int, axis: int) -> str:
        lo, hi = int(self.bounds[part]), int(self.bounds[part + 1])
        value = self.index.constant(name)
        if value is not None:
            return add_initializer(self.graph, np.take(value, range(lo, hi), axis=axis), f"{name}.part{part}")
        if name not in self.gate_parts:  # a computed per-channel operand: split once, small
            sizes = add_initializer(self.graph, np.diff(self.bounds).astype(np.int64), "part_sizes")
            outs = [fresh_name("gate_part") for _ in range(len(self.bounds) - 1)]
            self.nodes.append(helper.make_node("Split", [name, sizes], outs, axis=axis))
            self.gate_parts[name] = outs
        return self.gate_parts[name][part]

    def emit(self) -> list[onnx.NodeProto]:
        for part, out in enumerate(self.chain.split.output):
            current = self.chain.ops[-1].input[0]
            for step, node in enumerate(reversed(self.chain.ops)):
                result = out if step == len(self.chain.ops) - 1 else fresh_name(f"{node.op_type.lower()}_part")
                self.nodes.append(self._op(node, part, current, result))
                current = result
        return self.nodes

    def _op(self, node: onnx.NodeProto, part: int, current: str, result: str) -> onnx.NodeProto:
        if node.op_type == "Conv":
            inputs = [current, self._slice(node.input[1], part, 0)]
            if len(node.input) > 2 and node.input[2]:
                inputs.append(self._slice(node.input[2], part, 0))
            conv = helper.make_node("Conv", inputs, [result], name=fresh_name("Conv"))
            conv.attribute.extend(a for a in node.attribute if a.name != "group")
            if attribute(node, "group", 1) != 1:  # depthwise: one group per channel of the part
                conv.attribute.append(helper.make_attribute("group", int(self.bounds[part + 1] - self.bounds[part])))
            return conv
        rank = len(self.chain.shapes.get(node.input[1], [])) or self.index.constant(node.input[1]).ndim
        return helper.make_node(node.op_type, [current, self._slice(node.input[1], part, rank - 3)], [result])


@register_pass("split-projections")
def split_projections(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    index = GraphIndex(graph)
    shapes = inferred_shapes(model)
    replaced: dict[int, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if node.op_type != "Split":
            continue
        chain = _Chain(index, shapes, node)
        if not chain.find():
            continue
        sizes = chain.sizes()
        if sizes is None or sum(sizes) != chain.channels or not _channels_agree(chain, shapes):
            continue
        for op in chain.ops:
            replaced[id(op)] = []
        replaced[id(node)] = _Parts(graph, index, chain, sizes).emit()
    if replaced:
        splice(graph, replaced)
    return model


def _channels_agree(chain: _Chain, shapes: dict[str, list[int | None]]) -> bool:
    """Every depthwise conv and per-channel operand has exactly the projection's channel count."""
    for node in chain.ops:
        if node.op_type == "Conv":
            count = chain.index.constant(node.input[1]).shape[0]
        else:
            value = chain.index.constant(node.input[1])
            count = (list(value.shape) if value is not None else shapes[node.input[1]])[-3]
        if count != chain.channels:
            return False
    return True
