"""reassociate-linear-attention: the LinearSA idea applied to any ONNX graph.

    MatMul(s(MatMul(A, Transpose(B))), V)  ->  MatMul(A, s(MatMul(Transpose(B), V)))

where `s` is zero or more Mul/Div by a scalar (e.g. 1/N). The left form materialises an N×N matrix, the
right one a (c×d) matrix. Constraints: the Transpose swaps the last two axes, each intermediate has exactly
one consumer, and nothing but scalar Mul/Div sits between the two MatMuls (a Softmax or any other
non-linearity blocks the rewrite: the identity no longer holds).
"""

from __future__ import annotations

import onnx

from effrestore.export.passes._graph import GraphIndex, attribute, fresh_name, inferred_shapes
from effrestore.export.passes.registry import register_pass

SCALAR_OPS = {"Mul", "Div"}


def _is_last_axes_swap(node: onnx.NodeProto) -> bool:
    perm = attribute(node, "perm")
    return (
        perm is not None
        and len(perm) >= 2
        and list(perm[-2:]) == [len(perm) - 1, len(perm) - 2]
        and list(perm[:-2]) == list(range(len(perm) - 2))
    )


def _is_scalar(index: GraphIndex, shapes: dict[str, list], name: str) -> bool:
    value = index.constant(name)
    if value is not None:
        return value.size == 1
    dims = shapes.get(name)
    return dims is not None and all(d == 1 for d in dims)


def find_chain(index: GraphIndex, shapes: dict[str, list], outer: onnx.NodeProto) -> tuple | str:
    """(inner MatMul, Transpose, scalar nodes) when `outer` heads a rewritable chain, else the reason."""
    scalars: list[onnx.NodeProto] = []
    current = index.producer.get(outer.input[0])
    while current is not None and current.op_type in SCALAR_OPS:
        if not _is_scalar(index, shapes, current.input[1]):
            return f"{current.op_type} {current.name!r} is not by a scalar"
        if index.only_consumer(current.output[0]) is None:
            return f"{current.name!r} has other consumers"
        scalars.append(current)
        current = index.producer.get(current.input[0])
    if current is None or current.op_type != "MatMul":
        found = "graph input" if current is None else current.op_type
        return f"left operand comes from {found}, not MatMul (non-linearity between the MatMuls)"
    if index.only_consumer(current.output[0]) is None:
        return f"inner MatMul {current.name!r} has other consumers"
    transpose = index.producer.get(current.input[1])
    if transpose is None or transpose.op_type != "Transpose" or not _is_last_axes_swap(transpose):
        return "the inner MatMul's right operand is not a last-two-axes Transpose"
    return current, transpose, scalars


@register_pass("reassociate-linear-attention")
def reassociate_linear_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    shapes = inferred_shapes(model)
    index = GraphIndex(model.graph)
    removed: set[int] = set()
    replacements: dict[int, list[onnx.NodeProto]] = {}
    for outer in model.graph.node:
        if outer.op_type != "MatMul" or id(outer) in removed:
            continue
        chain = find_chain(index, shapes, outer)
        if isinstance(chain, str):
            continue
        inner, transpose, scalars = chain
        a, v = inner.input[0], outer.input[1]
        small = fresh_name("reassociated_context")
        nodes = [onnx.helper.make_node("MatMul", [transpose.output[0], v], [small], name=fresh_name("ReassocMatMul"))]
        for scalar in reversed(scalars):  # apply the scalars to the small product, innermost first
            scaled = fresh_name("reassociated_scaled")
            nodes.append(
                onnx.helper.make_node(
                    scalar.op_type, [small, scalar.input[1]], [scaled], name=fresh_name(scalar.op_type)
                )
            )
            small = scaled
        nodes.append(onnx.helper.make_node("MatMul", [a, small], [outer.output[0]], name=fresh_name("ReassocMatMul")))
        removed.update(id(n) for n in (inner, *scalars))
        replacements[id(outer)] = nodes
    if not replacements:
        return model
    new_nodes = []
    for node in model.graph.node:
        if id(node) in removed:
            continue
        new_nodes.extend(replacements.get(id(node), [node]))
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    return model
