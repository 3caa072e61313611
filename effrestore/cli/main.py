"""The typer application: wires one module per command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from effrestore import __version__
from effrestore.cli import _errors
from effrestore.cli.commands.bench import bench
from effrestore.cli.commands.build import build
from effrestore.cli.commands.evaluate import evaluate
from effrestore.cli.commands.export import export
from effrestore.cli.commands.inspect import inspect
from effrestore.cli.commands.models import models
from effrestore.cli.commands.run import run
from effrestore.cli.commands.train import train
from effrestore.cli.commands.triton_repo import triton_repo
from effrestore.cli.commands.triton_serve import triton_serve

app = typer.Typer(
    name="effrestore",
    help="Restore images with efficient-attention networks, exported to ONNX and run under a measured memory budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(models)
app.command()(train)
app.command(name="eval")(evaluate)
app.command()(export)
app.command()(build)
app.command()(inspect)
app.command()(run)
app.command()(bench)
app.command(name="triton-repo")(triton_repo)
app.command(name="triton-serve")(triton_serve)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"effrestore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of a failure (also EFFRESTORE_DEBUG=1).")
    ] = False,
) -> None:
    """effrestore command-line interface."""
    if debug:
        _errors.debug = True


def main(args: list[str] | None = None) -> None:
    sys.exit(_errors.run_cli(typer.main.get_command(app), args))
