"""`effrestore inspect`: what is in an ONNX file and whether ONNX Runtime can run it as is."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from effrestore._lazy import require
from effrestore.cli._errors import reports_errors
from effrestore.errors import ConfigError
from effrestore.metadata import METADATA_PREFIX


def inspect_onnx(path: Path) -> dict:
    """Metadata, opset, I/O with symbolic dims, op histogram, custom ops and an ONNX Runtime load test."""
    require("onnx", "inspecting ONNX files")
    import onnxruntime as ort

    from effrestore.onnx_files import load_onnx

    model = load_onnx(path)
    histogram = Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node)

    def describe(values) -> list[dict]:  # type: ignore[no-untyped-def]
        return [
            {"name": v.name, "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]}
            for v in values
        ]

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        runnable, reason = True, ""
    except Exception as exc:  # ORT raises its own exception types for unknown ops
        runnable, reason = False, str(exc).splitlines()[0]
    custom = sorted(op for op in histogram if "::" in op)
    return {
        "path": str(path),
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "metadata": {p.key: p.value for p in model.metadata_props if p.key.startswith(METADATA_PREFIX)},
        "inputs": describe(model.graph.input),
        "outputs": describe(model.graph.output),
        "nodes": len(model.graph.node),
        "ops": dict(histogram.most_common()),
        "custom_ops": custom,
        "onnxruntime_runnable": runnable,
        "onnxruntime_error": reason
        + (" (run: effrestore export ... --attention-ops decomposed, or apply decompose-attention)" if custom else ""),
    }


@reports_errors
def inspect(
    path: Annotated[Path, typer.Argument(help="An .onnx model.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Describe a model file: metadata, opset, inputs/outputs, op histogram, custom ops, runnability."""
    if path.suffix.lower() != ".onnx":
        raise ConfigError(f"{path}: inspect reads .onnx files")
    info = inspect_onnx(path)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console = Console()
    console.print(f"[bold]{info['path']}[/]  opsets {info['opsets']}  {info['nodes']} nodes")
    for key, value in info["metadata"].items():
        console.print(f"  {key} = {value}")
    for kind in ("inputs", "outputs"):
        for v in info[kind]:
            console.print(f"  {kind[:-1]} {v['name']}: {v['shape']}")
    console.print("  ops: " + ", ".join(f"{op}×{n}" for op, n in info["ops"].items()))
    if info["custom_ops"]:
        console.print(f"  custom ops: {', '.join(info['custom_ops'])}")
    verdict = "yes" if info["onnxruntime_runnable"] else f"no: {info['onnxruntime_error']}"
    console.print(f"  ONNX Runtime can run it as is: {verdict}")
