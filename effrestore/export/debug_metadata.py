"""The exporters' debug metadata, removed before a model is written: torch's exporter tags every node with
its Python stack trace, module path and FX node (and onnxscript with its rewrite rules), which hold the
exporting machine's absolute file paths, user name included. effrestore's own model-level metadata stays."""

from __future__ import annotations

import onnx


def strip_debug_metadata(model: onnx.ModelProto) -> int:
    """Clears the per-node, per-value and per-graph metadata (and doc strings) of every graph of `model`,
    subgraphs included; returns how many entries were removed. The computation is untouched."""
    return _strip_graph(model.graph)


def _strip_graph(graph: onnx.GraphProto) -> int:
    removed = len(graph.metadata_props)
    del graph.metadata_props[:]
    graph.doc_string = ""
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        removed += len(value.metadata_props)
        del value.metadata_props[:]
    for node in graph.node:
        removed += len(node.metadata_props)
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            for subgraph in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                removed += _strip_graph(subgraph)
    return removed
