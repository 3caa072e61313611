"""nchw-layernorm: a channel LayerNorm computed on NCHW over axis 1, without the two transposes around it.

Restormer-style models normalise each pixel's C values by permuting to NHWC, normalising over the last
axis and permuting back; CPU runtimes execute both Transposes (and the layout reorders they force) as real
data movement, ~30 % of OpenVINO's time on the shipped models. Between `Transpose(perm=[0,2,3,1])` and
`Transpose(perm=[0,3,1,2])` every op here is per pixel: a reduction over the last axis becomes a mean
over axis 1, a per-channel constant of shape [C] becomes [C,1,1], scalars stay. Both variants are covered —
WithBias (`(x-μ)/σ·w+b`, also when already fused to `LayerNormalization`) and BiasFree (`x/σ·w`, which is
not a standard LayerNorm) — because the rewrite follows the ops, not one pattern.

    T(x) -> ReduceMean[-1] -> Sub -> Pow -> ReduceMean[-1] -> Add eps -> Sqrt -> Div -> Mul w -> Add b -> T⁻¹
      ->  x -> Conv(1/C) -> Sub -> Pow -> Conv(1/C) -> Add eps -> Sqrt -> Div -> Mul w' -> Add b'

The channel mean is a 1×1 convolution with one output channel and weights 1/C: OpenVINO runs a
ReduceMean over axis 1 in planar layout and reorders the channels-last tensors around it (measured
~1.1× slower end to end than the convolution); a convolution keeps the layout of its neighbours.
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
    reduce_axes,
    splice,
)
from effrestore.export.passes.registry import register_pass

TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs", "Identity"}


class _Island:
    """The per-pixel ops between one NCHW→NHWC transpose and its NHWC→NCHW exits."""

    def __init__(self, index: GraphIndex, entry: onnx.NodeProto, channels: int) -> None:
        self.index = index
        self.entry = entry
        self.channels = channels
        self.nodes: list[onnx.NodeProto] = []
        self.exits: list[onnx.NodeProto] = []
        self.tensors = {entry.output[0]}

    def grow(self) -> bool:
        """Collects the island; False where any op is not per pixel or a tensor leaves it in NHWC."""
        frontier = [self.entry.output[0]]
        seen = {id(self.entry)}
        while frontier:
            name = frontier.pop()
            if name in self.index.graph_outputs:
                return False
            for node in self.index.consumers.get(name, []):
                if id(node) in seen:
                    continue
                seen.add(id(node))
                if node.op_type == "Transpose" and list(attribute(node, "perm", [])) == TO_NCHW:
                    self.exits.append(node)
                    continue
                if not self._per_pixel(node):
                    return False
                self.nodes.append(node)
                self.tensors.update(node.output)
                frontier.extend(node.output)
        return bool(self.exits) and all(self._inputs_known(node) for node in self.nodes)

    def _per_pixel(self, node: onnx.NodeProto) -> bool:
        if node.op_type in ELEMENTWISE:
            return True
        if node.op_type == "ReduceMean":
            return attribute(node, "keepdims", 1) == 1 and _last_axis(reduce_axes(self.index, node))
        if node.op_type == "LayerNormalization":
            return attribute(node, "axis", -1) in (-1, 3) and len(node.output) == 1
        return False

    def _inputs_known(self, node: onnx.NodeProto) -> bool:
        """Every input is an island tensor or a constant that broadcasts per pixel (scalar or [.., C])."""
        data = node.input[1:2] if node.op_type == "ReduceMean" else node.input
        for name in data:
            if not name or name in self.tensors:
                continue
            value = self.index.constant(name)
            if value is None:
                return False
            if value.size != 1 and not (value.shape[-1] == value.size == self.channels):
                return False
        return True


def _last_axis(axes: list[int] | None) -> bool:
    return axes is not None and len(axes) == 1 and axes[0] in (-1, 3)


class _Rewriter:
    """Emits the NCHW form of island nodes; new constants go to the graph's initializers."""

    def __init__(self, graph: onnx.GraphProto, index: GraphIndex) -> None:
        self.graph = graph
        self.index = index
        self.converted: dict[str, str] = {}
        self.averages: dict[int, str] = {}

    def per_channel(self, name: str) -> str:
        """A constant of shape [.., C] as [C, 1, 1]; scalars and island tensors unchanged."""
        value = self.index.constant(name)
        if value is None or value.size == 1:
            return name
        if name not in self.converted:
            self.converted[name] = add_initializer(self.graph, value.reshape(-1, 1, 1), f"{name}.nchw")
        return self.converted[name]

    def channel_mean(self, x: str, out: str, channels: int) -> onnx.NodeProto:
        if channels not in self.averages:
            weights = np.full((1, channels, 1, 1), 1 / channels, np.float32)
            self.averages[channels] = add_initializer(self.graph, weights, "average")
        return helper.make_node("Conv", [x, self.averages[channels]], [out], name=fresh_name("ChannelMean"))

    def node(self, node: onnx.NodeProto, channels: int) -> list[onnx.NodeProto]:
        if node.op_type == "ReduceMean":
            return [self.channel_mean(node.input[0], node.output[0], channels)]
        if node.op_type == "LayerNormalization":
            return self._layernorm(node, channels)
        rewritten = helper.make_node(node.op_type, [self.per_channel(n) for n in node.input], list(node.output))
        rewritten.attribute.extend(node.attribute)
        return [rewritten]

    def _layernorm(self, node: onnx.NodeProto, channels: int) -> list[onnx.NodeProto]:
        x, scale = node.input[0], self.per_channel(node.input[1])
        bias = self.per_channel(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        eps = add_initializer(self.graph, np.array(attribute(node, "epsilon", 1e-5), np.float32), "epsilon")
        two = add_initializer(self.graph, np.array(2.0, np.float32), "two")
        mean, centred, square, variance, shifted, std, normed, scaled = (fresh_name("ln") for _ in range(8))
        nodes = [
            self.channel_mean(x, mean, channels),
            helper.make_node("Sub", [x, mean], [centred]),
            helper.make_node("Pow", [centred, two], [square]),
            self.channel_mean(square, variance, channels),
            helper.make_node("Add", [variance, eps], [shifted]),
            helper.make_node("Sqrt", [shifted], [std]),
            helper.make_node("Div", [centred, std], [normed]),
        ]
        if bias is None:
            return [*nodes, helper.make_node("Mul", [normed, scale], list(node.output))]
        return [
            *nodes,
            helper.make_node("Mul", [normed, scale], [scaled]),
            helper.make_node("Add", [scaled, bias], list(node.output)),
        ]


@register_pass("nchw-layernorm")
def nchw_layernorm(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    index = GraphIndex(graph)
    rewriter = _Rewriter(graph, index)
    shapes = inferred_shapes(model)
    replaced: dict[int, list[onnx.NodeProto]] = {}
    renamed: dict[str, str] = {}
    transposed: set[str] = set()
    for node in graph.node:
        if node.op_type != "Transpose" or list(attribute(node, "perm", [])) != TO_NHWC:
            continue
        dims = shapes.get(node.input[0], [])
        channels = dims[1] if len(dims) == 4 else None
        if channels is None:
            continue
        island = _Island(index, node, channels)
        if not island.grow():
            continue
        renamed[node.output[0]] = node.input[0]
        transposed.update(island.tensors)
        replaced[id(node)] = []
        for member in island.nodes:  # in place, so the graph stays in topological order
            replaced[id(member)] = rewriter.node(member, channels)
        for exit_node in island.exits:  # the island's result is NCHW already: the exit is a no-op
            result, (out,) = exit_node.input[0], exit_node.output
            if out in index.graph_outputs:
                replaced[id(exit_node)] = [helper.make_node("Identity", [result], [out])]
            else:
                replaced[id(exit_node)] = []
                renamed[out] = result
    if not replaced:
        return model
    splice(graph, replaced)
    for node in graph.node:
        for i, name in enumerate(node.input):
            while name in renamed:  # an exit may read the entry directly
                name = renamed[name]
            node.input[i] = name
    stale = {out for node in graph.node for out in node.output} & transposed
    kept = [v for v in graph.value_info if v.name not in stale]  # their recorded shapes are NHWC
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return model
