"""decompose-attention: every `effrestore::<Name>` node -> the equivalent standard-op subgraph.

`effrestore::MDTA(x, w...) {heads}` → the ONNX export of `MDTA.functional(x, w..., heads=...)`, the very
function the torch module runs, so the numbers match the decomposed export. Subgraphs are exported once per
(op, attributes, weight shapes) with dynamic batch, height and width, then spliced in place of the node
with their value names prefixed by the node's name.
"""

from __future__ import annotations

import functools
import warnings

import onnx

from effrestore.errors import RewriteError
from effrestore.export.custom_ops import DOMAIN, exportable_families
from effrestore.export.passes._graph import GraphIndex, attribute, fresh_name
from effrestore.export.passes.registry import register_pass

PLUGIN_ATTRIBUTES = {"plugin_namespace", "plugin_version"}


@functools.lru_cache(maxsize=64)
def _decomposition(
    op: str, attributes: tuple[tuple[str, int], ...], weight_shapes: tuple[tuple[int, ...], ...], opset: int
) -> onnx.ModelProto:
    import torch

    cls = exportable_families()[op]
    kwargs = dict(attributes)

    class Functional(torch.nn.Module):
        def forward(self, x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
            return cls.functional(x, *weights, **kwargs)

    x = torch.rand(2, weight_shapes[0][1], 24, 40)  # the first weight is a C_out×C_in×1×1 projection
    weights = tuple(torch.rand(shape) for shape in weight_shapes)
    # DYNAMIC (not named Dims): window reshapes add range guards torch.export would reject, while the
    # resulting ONNX ops are shape-generic; parity tests cover 1-window and multi-window sizes.
    dims = {0: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = torch.export.export(Functional(), (x, *weights), dynamic_shapes=(dims, (None,) * len(weights)))
        program = torch.onnx.export(
            exported,
            dynamo=True,
            opset_version=opset,
            verbose=False,
            input_names=["x", *[f"w{i}" for i in range(len(weights))]],
            output_names=["y"],
        )
    return program.model_proto


def _splice(graph: onnx.GraphProto, node: onnx.NodeProto, sub: onnx.ModelProto) -> list[onnx.NodeProto]:
    prefix = fresh_name(node.name or node.op_type)
    renames = {inp.name: outer for inp, outer in zip(sub.graph.input, node.input, strict=True)}
    renames[sub.graph.output[0].name] = node.output[0]

    def rename(name: str) -> str:
        return renames.get(name, f"{prefix}/{name}") if name else name

    for init in sub.graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = rename(init.name)
        graph.initializer.append(copy)
    spliced = []
    for inner in sub.graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = f"{prefix}/{inner.name}"
        copy.input[:] = [rename(n) for n in inner.input]
        copy.output[:] = [rename(n) for n in inner.output]
        spliced.append(copy)
    return spliced


def _shape(index: GraphIndex, name: str, node: onnx.NodeProto) -> tuple[int, ...]:
    value = index.constant(name)
    if value is None:
        raise RewriteError(
            f"decompose-attention: input {name!r} of {node.op_type} node {node.name!r} is not a constant; "
            "only exported models with their weights as initializers can be decomposed"
        )
    return tuple(value.shape)


@register_pass("decompose-attention")
def decompose_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    families = exportable_families()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)
    index = GraphIndex(model.graph)
    new_nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.domain != DOMAIN:
            new_nodes.append(node)
            continue
        if node.op_type not in families:
            raise RewriteError(f"decompose-attention: unknown op {DOMAIN}::{node.op_type}")
        attrs = tuple(
            sorted((a.name, int(attribute(node, a.name))) for a in node.attribute if a.name not in PLUGIN_ATTRIBUTES)
        )
        shapes = tuple(_shape(index, name, node) for name in node.input[1:])
        new_nodes.extend(_splice(model.graph, node, _decomposition(node.op_type, attrs, shapes, opset)))
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    kept = [o for o in model.opset_import if o.domain != DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    return model
