"""fuse-layernorm: the decomposed WithBias LayerNorm over the last axis -> `LayerNormalization` (opset 17).

    D = Sub(X, ReduceMean(X, [-1]));  Y = Add(Mul(Div(D, Sqrt(Add(ReduceMean(Pow(D, 2), [-1]), eps))), W), B)
      ->  Y = LayerNormalization(X, W, B, axis=-1, epsilon=eps)

BiasFree LayerNorm (`X / std`, no centring) is not standard LayerNorm and is left alone: its Div reads X,
not a Sub of the mean, so the pattern does not match.
"""

from __future__ import annotations

import onnx

from effrestore.export.passes._graph import GraphIndex, attribute, fresh_name, inferred_shapes
from effrestore.export.passes.registry import register_pass


def _last_axis_mean(index: GraphIndex, node: onnx.NodeProto | None, rank: int | None) -> bool:
    if node is None or node.op_type != "ReduceMean" or attribute(node, "keepdims", 1) != 1:
        return False
    axes = index.constant(node.input[1]) if len(node.input) > 1 else attribute(node, "axes")
    if axes is None or len(list(axes)) != 1:
        return False
    axis = int(next(iter(axes)))
    return axis == -1 or (rank is not None and axis == rank - 1)


def _produced(index: GraphIndex, name: str, op: str) -> onnx.NodeProto | None:
    node = index.producer.get(name)
    return node if node is not None and node.op_type == op else None


def _match(index: GraphIndex, ranks: dict[str, int], add: onnx.NodeProto) -> tuple | None:
    """(X, W, B, eps, nodes to remove) if `add` ends a WithBias LayerNorm."""
    mul = _produced(index, add.input[0], "Mul")
    bias = add.input[1]
    div = _produced(index, mul.input[0], "Div") if mul else None
    sub = _produced(index, div.input[0], "Sub") if div else None
    sqrt = _produced(index, div.input[1], "Sqrt") if div else None
    add_eps = _produced(index, sqrt.input[0], "Add") if sqrt else None
    if not (mul and div and sub and sqrt and add_eps):
        return None
    x = sub.input[0]
    rank = ranks.get(x)
    mean = index.producer.get(sub.input[1])
    var = index.producer.get(add_eps.input[0])
    pow_node = _produced(index, var.input[0], "Pow") if var else None
    eps = index.constant(add_eps.input[1])
    weight, b = index.constant(mul.input[1]), index.constant(bias)
    exponent = index.constant(pow_node.input[1]) if pow_node else None
    if not (_last_axis_mean(index, mean, rank) and mean.input[0] == x and _last_axis_mean(index, var, rank)):
        return None
    if pow_node.input[0] != sub.output[0] or exponent is None or float(exponent) != 2.0 or eps is None:
        return None
    if weight is None or b is None or weight.ndim != 1 or b.ndim != 1:
        return None
    return x, mul.input[1], bias, float(eps), (mean, sub, pow_node, var, add_eps, sqrt, div, mul, add)


@register_pass("fuse-layernorm")
def fuse_layernorm(model: onnx.ModelProto) -> onnx.ModelProto:
    ranks = {name: len(dims) for name, dims in inferred_shapes(model).items()}
    index = GraphIndex(model.graph)
    removed: set[int] = set()
    replacements: dict[int, onnx.NodeProto] = {}
    for node in model.graph.node:
        if node.op_type != "Add" or id(node) in removed:
            continue
        match = _match(index, ranks, node)
        if match is None:
            continue
        x, weight, bias, eps, nodes = match
        internal = [out for n in nodes[:-1] for out in n.output]
        if any(c not in nodes for out in internal for c in index.consumers.get(out, [])):
            continue  # an intermediate is used elsewhere: fusing would drop it
        removed.update(id(n) for n in nodes)
        replacements[id(node)] = onnx.helper.make_node(
            "LayerNormalization",
            [x, weight, bias],
            [node.output[0]],
            name=fresh_name("LayerNorm"),
            axis=-1,
            epsilon=eps,
        )
    if replacements:
        new_nodes = [
            replacements.get(id(n), n) for n in model.graph.node if id(n) not in removed or id(n) in replacements
        ]
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return model
