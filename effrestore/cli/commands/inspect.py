"""`effrestore inspect`: what is in an ONNX file or a TensorRT engine, and whether it will run here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from effrestore._lazy import require
from effrestore.errors import ConfigError
from effrestore.metadata import METADATA_PREFIX
from effrestore.model_file import ModelFile
from effrestore.printable import printable
from effrestore.runtime.backends.base import load_failure
from effrestore.runtime.backends.onnxruntime import quiet_options
from effrestore.runtime.memory import format_bytes

METADATA_CHARS = 200  # of one metadata value on the terminal (--json has it whole)
LINE_CHARS = 4000


class _FileTextConsole(Console):
    """Prints text that comes from a file (names, metadata, runtimes' messages) with its control characters
    escaped, so a model cannot retitle the window, clear the screen or write to the clipboard."""

    def print(self, *objects: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().print(*(printable(o, LINE_CHARS) if isinstance(o, str) else o for o in objects), **kwargs)


def inspect_onnx(file: ModelFile) -> dict:
    """Metadata, opset, I/O with symbolic dims, op histogram, custom ops and an ONNX Runtime load test."""
    require("onnx", "inspecting ONNX files")
    import onnxruntime as ort

    path, model = file.path, file.proto()
    histogram = Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node)

    def describe(values) -> list[dict]:  # type: ignore[no-untyped-def]
        return [
            {"name": v.name, "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]}
            for v in values
        ]

    try:
        ort.InferenceSession(str(path), quiet_options(ort), providers=["CPUExecutionProvider"])
        runnable, reason = True, ""
    except Exception as exc:  # ORT raises its own exception types for unknown ops
        runnable, reason = False, load_failure(exc)
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
        "onnxruntime_error": reason,
    }


def inspect_plan(path: Path) -> dict:
    """The engine doctor's verdict: manifest, plan header, local TensorRT/GPU, and the rebuild command."""
    from effrestore.trt.doctor import diagnose
    from effrestore.trt.environment import local_gpus
    from effrestore.trt.flavours import FLAVOURS

    gpus = local_gpus()
    diagnosis = diagnose(path, gpus[:1], ask_tensorrt=True)
    manifest = diagnosis.manifest
    return {
        "path": str(path),
        "runs_here": diagnosis.runs_here,
        "problems": diagnosis.problems,
        "notes": diagnosis.notes,
        "rebuild_command": diagnosis.rebuild_command,
        "header": {
            "is_tensorrt_plan": diagnosis.header.magic_ok,
            "flavour": diagnosis.header.flavour,
            "tensorrt_version": diagnosis.header.tensorrt_version,
            "bytes": diagnosis.header.size,
            "stated_bytes": diagnosis.header.stated_size,
        },
        "local": {
            "tensorrt_versions": {f.name: f.version() for f in FLAVOURS},
            "gpus": [{"name": g.name, "compute_capability": g.compute_capability} for g in gpus],
        },
        "manifest": manifest.to_dict() if manifest else None,
    }


def tensorrt_findings(file: ModelFile, target: str) -> dict:
    from effrestore.trt.flavours import flavour_named
    from effrestore.trt.onnx_support import check_tensorrt_support, summarize

    findings = check_tensorrt_support(file.proto(), plugins=flavour_named(target).has_plugins)
    return {
        "verdict": summarize(findings),
        "findings": [{"severity": f.severity, "op": f.op, "node": f.node, "message": f.message} for f in findings],
    }


def _print_plan(console: Console, info: dict) -> None:
    console.print(f"{info['path']}  TensorRT engine")
    manifest = info["manifest"]
    if manifest:
        gpu = manifest["gpu"]
        console.print(
            f"  built with {manifest['flavour']} {manifest['tensorrt_version']} on "
            f"{gpu['name'] or 'a machine without GPU'}"
            f" for compute capability {', '.join(gpu['compute_capabilities'])}, precision {manifest['precision']}"
        )
        for p in manifest["profiles"]:
            known = p["device_memory"] is not None
            memory = format_bytes(p["device_memory"]) if known else "read from the engine when loaded"
            console.print(f"  profile min {p['min']} opt {p['opt']} max {p['max']}: device memory {memory}")
        console.print(f"  model: {manifest['model'].get('name') or '?'} ({manifest['model'].get('task')})")
    header = info["header"]
    console.print(
        f"  plan header: {header['flavour'] + ' plan' if header['is_tensorrt_plan'] else 'not a TensorRT plan'}"
        + (f", version {header['tensorrt_version']}" if header["tensorrt_version"] else "")
    )
    local = info["local"]
    gpus = ", ".join(f"{g['name']} ({g['compute_capability']})" for g in local["gpus"]) or "none"
    versions = ", ".join(f"{name} {version or 'not installed'}" for name, version in local["tensorrt_versions"].items())
    console.print(f"  this machine: {versions}; GPU {gpus}")
    for note in info["notes"]:
        console.print(f"  note: {note}")
    if info["runs_here"]:
        console.print("  it will run here")
        return
    console.print("  cannot run here:")
    for problem in info["problems"]:
        console.print(f"    - {problem}")
    if info["rebuild_command"]:
        console.print(f"  rebuild it on the target machine with:\n    {info['rebuild_command']}")


def inspect(
    source: Annotated[
        str, typer.Argument(help="An .onnx model, a TensorRT .plan/.engine file, or a shipped model's name.")
    ],
    target: Annotated[
        str | None,
        typer.Option(
            help="For .onnx: 'tensorrt' or 'tensorrt-rtx' checks the graph against that TensorRT's ONNX parser."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Describe a model file. .onnx: metadata, opset, I/O, ops, runnability (and TensorRT support with
    --target tensorrt|tensorrt-rtx). .plan: which TensorRT built it, whether it runs on this machine and, if
    not, why and the rebuild command (exit code 1)."""
    file = ModelFile.resolve(source)
    if file.kind == "checkpoint":
        raise ConfigError(f"{file.path}: inspect reads ONNX models and TensorRT engines; export it first")
    if target not in (None, "tensorrt", "tensorrt-rtx"):
        raise ConfigError(f"--target must be 'tensorrt' or 'tensorrt-rtx', got {target!r}")
    console = _FileTextConsole(markup=False, highlight=False)
    if file.kind == "engine":
        info = inspect_plan(file.path)
        if as_json:
            typer.echo(json.dumps(info, indent=2))
        else:
            _print_plan(console, info)
        if not info["runs_here"]:
            raise typer.Exit(1)
        return
    info = inspect_onnx(file)
    if target is not None:
        info["tensorrt"] = tensorrt_findings(file, target)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    console.print(f"{info['path']}  opsets {info['opsets']}  {info['nodes']} nodes")
    for key, value in info["metadata"].items():
        console.print(f"  {key} = {printable(value, METADATA_CHARS)}")
    for kind in ("inputs", "outputs"):
        for v in info[kind]:
            console.print(f"  {kind[:-1]} {v['name']}: {v['shape']}")
    console.print("  ops: " + ", ".join(f"{op}×{n}" for op, n in info["ops"].items()))
    if info["custom_ops"]:
        console.print(f"  custom ops: {', '.join(info['custom_ops'])}")
    verdict = "yes" if info["onnxruntime_runnable"] else f"no: {info['onnxruntime_error']}"
    console.print(f"  ONNX Runtime can run it as is: {verdict}")
    if "tensorrt" in info:
        console.print(f"  {target}: {info['tensorrt']['verdict']}")
        for finding in info["tensorrt"]["findings"]:
            where = f" [{finding['op']} {finding['node']}]" if finding["op"] else ""
            console.print(f"    {finding['severity']}: {finding['message']}{where}")
        if any(f["severity"] == "error" for f in info["tensorrt"]["findings"]):
            raise typer.Exit(1)
