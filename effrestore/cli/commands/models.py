"""`effrestore models`: the shipped models (from their cards, no torch needed) and the registered configs."""

from __future__ import annotations

import importlib.util
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from effrestore.zoo import DEFAULT_MODEL, list_zoo

COST_SIZE = 256


def shipped_rows() -> list[dict]:
    return [
        {
            "name": entry.name,
            "default": entry.name == DEFAULT_MODEL,
            "task": entry.card.get("task", ""),
            "attention": entry.card.get("attention", []),
            "validation_psnr": entry.card.get("validation_psnr", {}),
            "baseline": entry.card.get("baseline", ""),
            "baseline_psnr": entry.card.get("baseline_psnr", {}),
            "onnx": str(entry.onnx),
        }
        for entry in list_zoo()
    ]


def config_rows() -> list[dict]:
    from effrestore.models import MODELS, build_model, cost

    rows = []
    for name, spec in sorted(MODELS.items()):
        params, macs = cost(build_model(name), (1, spec.config.in_channels, COST_SIZE, COST_SIZE))
        rows.append(
            {
                "name": name,
                "attention": list(spec.config.attention_per_level),
                "params": params,
                "gmacs_256": round(macs / 1e9, 3),
                "description": spec.description,
            }
        )
    return rows


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
) -> None:
    """List shipped models (validation PSNR vs the classical baseline) and registered configurations."""
    has_torch = importlib.util.find_spec("torch") is not None
    shipped, configs = shipped_rows(), config_rows() if has_torch else []
    if as_json:
        typer.echo(json.dumps({"shipped": shipped, "configs": configs}, indent=2))
        return
    console = Console(markup=False, highlight=False)  # names and paths come from files
    table = Table(title="shipped models (OpenVINO or ONNX Runtime, no torch needed)")
    for column in ("name", "task", "attention", "validation PSNR (dB)", "baseline PSNR (dB)"):
        table.add_column(column)
    for row in shipped:

        def scores(values: dict[str, float]) -> str:
            """'σ15 33.58 · σ25 31.42' for denoisers (keyed by sigma), 'x2 33.10' for super-resolution."""
            return " · ".join(f"{'σ' if key[0].isdigit() else ''}{key} {value:.2f}" for key, value in values.items())

        name = row["name"] + (" (default)" if row["default"] else "")
        table.add_row(
            name,
            row["task"],
            "/".join(sorted(set(row["attention"]))),
            scores(row["validation_psnr"]),
            f"{row['baseline']}: {scores(row['baseline_psnr'])}",
        )
    console.print(table)
    if not has_torch:
        console.print(
            "registered configurations: install the export extra to list them (pip install 'effrestore[export]')"
        )
        return
    table = Table(title="registered configurations")
    for column in ("name", "attention", "params (M)", f"GMACs @{COST_SIZE}²", "description"):
        table.add_column(column)
    for row in configs:
        kinds = row["attention"]
        table.add_row(
            row["name"],
            kinds[0] if len(set(kinds)) == 1 else "/".join(kinds),
            f"{row['params'] / 1e6:.3f}",
            f"{row['gmacs_256']:.2f}",
            row["description"],
        )
    console.print(table)
