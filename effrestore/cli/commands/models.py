"""`effrestore models`: the registered model configurations with their costs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from effrestore._lazy import require
from effrestore.cli._errors import reports_errors

COST_SIZE = 256


@reports_errors
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")] = False,
) -> None:
    """List the registered models: attention kind per level, parameters and GMACs at 256×256."""
    require("torch", "listing model costs")
    from effrestore.models import MODELS, build_model, cost

    rows = []
    for name, spec in sorted(MODELS.items()):
        model = build_model(name)
        params, macs = cost(model, (1, spec.config.in_channels, COST_SIZE, COST_SIZE))
        rows.append(
            {
                "name": name,
                "attention": list(spec.config.attention_per_level),
                "params": params,
                "gmacs_256": round(macs / 1e9, 3),
                "description": spec.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="effrestore models")
    for column in ("name", "attention", "params (M)", f"GMACs @{COST_SIZE}²", "description"):
        table.add_column(column)
    for row in rows:
        kinds = row["attention"]
        table.add_row(
            row["name"],
            kinds[0] if len(set(kinds)) == 1 else "/".join(kinds),
            f"{row['params'] / 1e6:.3f}",
            f"{row['gmacs_256']:.2f}",
            row["description"],
        )
    Console().print(table)
