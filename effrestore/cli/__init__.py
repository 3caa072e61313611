"""The `effrestore` command-line interface (typer)."""
