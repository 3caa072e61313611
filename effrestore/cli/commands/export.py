"""`effrestore export`: torch -> ONNX with passes and a parity report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from effrestore._lazy import require
from effrestore.cli._errors import shown
from effrestore.errors import ExportError


def _parse_static(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ExportError(f"--static takes HxW, e.g. 512x512, got {text!r}") from None
    return height, width


def export(
    model: Annotated[str, typer.Argument(help="Registered model name or checkpoint (.safetensors/.pth).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the .onnx file.")],
    opset: Annotated[int, typer.Option(help="ONNX opset (>= 17).")] = 18,
    attention_ops: Annotated[
        str,
        typer.Option(help="decomposed: standard ops (ONNX Runtime). custom: one effrestore::<Name> node per block."),
    ] = "decomposed",
    static: Annotated[str | None, typer.Option(help="Fixed input size HxW instead of dynamic shapes.")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Append the fp16 pass (fp32 islands kept).")] = False,
    passes: Annotated[str | None, typer.Option(help="Comma-separated rewrite passes, replacing the defaults.")] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check ONNX Runtime vs torch.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    keep_debug_metadata: Annotated[
        bool,
        typer.Option(
            "--keep-debug-metadata",
            help="Keep the exporter's per-node stack traces (they hold this machine's file paths); removed by default.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Export a model to ONNX, apply rewrite passes, verify parity with torch, then write atomically."""
    require("torch", "export")
    from effrestore.export import export_onnx
    from effrestore.export.exporter import DEFAULT_PASSES
    from effrestore.models.registry import resolve_model

    names = [p.strip() for p in passes.split(",") if p.strip()] if passes is not None else None
    if fp16:
        names = [*(names if names is not None else DEFAULT_PASSES.get(attention_ops, ())), "fp16"]
    report = export_onnx(
        resolve_model(model),
        output,
        opset=opset,
        static_shape=_parse_static(static),
        attention_ops=attention_ops,
        passes=names,
        verify_parity=verify,  # type: ignore[arg-type]
        overwrite=overwrite,
        keep_debug_metadata=keep_debug_metadata,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    console = Console(markup=False, highlight=False)  # names and paths come from files
    console.print(
        f"{report.path}: opset {report.opset}, input {report.input_shape}, {report.nodes} nodes, "
        f"attention ops {report.attention_ops}, {report.seconds}s"
    )
    for record in report.passes:
        console.print(f"  pass {record.name}: {record.nodes_before} -> {record.nodes_after} nodes")
    table = Table(title="op histogram")
    table.add_column("op")
    table.add_column("count", justify="right")
    for op, count in report.ops.items():
        table.add_row(shown(op), str(count))
    console.print(table)
    for check in report.checks:
        console.print(f"  parity ({report.verified_on}) {check}")
