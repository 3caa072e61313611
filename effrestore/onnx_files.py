"""Safe ONNX file loading and atomic saving (torch-free; shared by export and runtime).

External data is allowed only inside the model's own folder: a `location` that is absolute, climbs out
with `..` or names a hard link is refused before any file is opened, wherever in the model (subgraphs
included) the tensor sits. Models over 2 GB are saved with external data.
"""

from __future__ import annotations

import os
from pathlib import Path

from effrestore._atomic import atomic_path
from effrestore._lazy import require
from effrestore.errors import OnnxModelError

PROTOBUF_LIMIT = 2**31 - 1


def _tensors(graph, onnx):  # type: ignore[no-untyped-def]
    """Every tensor a graph holds: initializers (sparse ones too) and tensor attributes of its nodes, down
    through every subgraph (If, Loop, Scan bodies), where external data can hide as well."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                yield attribute.t
            elif attribute.type == onnx.AttributeProto.TENSORS:
                yield from attribute.tensors
            elif attribute.type == onnx.AttributeProto.GRAPH:
                yield from _tensors(attribute.g, onnx)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _tensors(subgraph, onnx)


def _external_locations(model) -> list[str]:  # type: ignore[no-untyped-def]
    onnx = require("onnx", "reading ONNX files")
    graphs = [model.graph, *(onnx.helper.make_graph(f.node, f.name, [], []) for f in model.functions)]
    return [
        entry.value
        for graph in graphs
        for t in _tensors(graph, onnx)
        if t.data_location == onnx.TensorProto.EXTERNAL
        for entry in t.external_data
        if entry.key == "location"
    ]


def read_checked(path: Path):  # type: ignore[no-untyped-def]
    """The model proto without its external data, and the data files' locations, each checked to be a file
    inside the model's folder."""
    onnx = require("onnx", "reading ONNX files")
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others
        raise OnnxModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.HasField("graph"):
        raise OnnxModelError(f"{path}: not an ONNX model (the file holds no graph)")
    folder = path.parent.resolve()
    locations = _external_locations(model)
    for location in locations:
        target = (folder / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(folder):
            raise OnnxModelError(
                f"{path}: refused: external data {location!r} points outside the model's folder {folder}; "
                "move the data file next to the model and fix its location"
            )
        if not target.is_file():
            raise OnnxModelError(f"{path}: external data file {location!r} is missing next to the model")
        if target.stat().st_nlink > 1:  # a hard link may be another folder's file under a name inside this one
            raise OnnxModelError(
                f"{path}: refused: external data file {location!r} is a hard link ({target.stat().st_nlink} names "
                "for one file, possibly outside the model's folder); replace it with a copy of the data"
            )
    return model, locations


def external_data_files(path: str | os.PathLike[str]) -> list[str]:
    """The external data files of an ONNX model, relative to its folder (what must travel with it)."""
    _, locations = read_checked(Path(path))
    return sorted(set(locations))


def load_onnx(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    """Loads an ONNX model; external data must live inside the model's folder."""
    onnx = require("onnx", "reading ONNX files")
    path = Path(path)
    model, locations = read_checked(path)
    if locations:
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent.resolve()))
    return model


def save_onnx(model, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:  # type: ignore[no-untyped-def]
    """Writes atomically (over an existing file only with `overwrite`); uses external data (`<name>.data`
    beside it) when the model exceeds 2 GB."""
    onnx = require("onnx", "writing ONNX files")
    path = Path(path)
    if model.ByteSize() < PROTOBUF_LIMIT:
        with atomic_path(path, replace=overwrite) as tmp:
            onnx.save(model, str(tmp))
        return path
    data_name = path.name + ".data"
    data_target = atomic_path(path.parent / data_name, replace=overwrite)
    with data_target as tmp_data, atomic_path(path, replace=overwrite) as tmp:
        onnx.save(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True, location=tmp_data.name)
        # the model refers to its data by final name; the rename of both happens on success
        model_with_final_name = onnx.load(str(tmp), load_external_data=False)
        for t in model_with_final_name.graph.initializer:
            for entry in t.external_data:
                if entry.key == "location":
                    entry.value = data_name
        onnx.save(model_with_final_name, str(tmp))
    return path
