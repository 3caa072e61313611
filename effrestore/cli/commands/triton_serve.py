"""`effrestore triton-serve`: the Triton server that `nvidia-pytriton` bundles, on a model repository."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from effrestore.errors import ConfigError


def triton_serve(
    repository: Annotated[Path, typer.Argument(help="Model repository (from `effrestore triton-repo`).")],
    server_env: Annotated[
        Path,
        typer.Option(help="Python environment with nvidia-pytriton installed (its bundled tritonserver runs)."),
    ],
    http_port: Annotated[int, typer.Option(help="HTTP port on 127.0.0.1.")] = 8000,
    grpc_port: Annotated[int, typer.Option(help="gRPC port on 127.0.0.1.")] = 8001,
    print_only: Annotated[bool, typer.Option("--print", help="Print the command instead of running it.")] = False,
) -> None:
    """Run Triton Inference Server (the build bundled by nvidia-pytriton) on REPOSITORY, bound to 127.0.0.1,
    in the foreground; stop it with Ctrl-C. Put it behind a proxy to serve other hosts."""
    from effrestore.serving.tritonserver import PythonEnv, server_command

    if not repository.is_dir():
        raise ConfigError(f"{repository}: not a folder; write one with `effrestore triton-repo MODEL -o {repository}`")
    for port in (http_port, grpc_port):
        if not 1 <= port <= 65535:
            raise ConfigError(f"port {port} is not between 1 and 65535")
    workdir = Path(tempfile.mkdtemp(prefix="effrestore-triton-"))
    argv, environment = server_command(
        repository, PythonEnv.at(server_env), workdir, http_port=http_port, grpc_port=grpc_port
    )
    if print_only:
        paths = f"LD_LIBRARY_PATH={shlex.quote(environment['LD_LIBRARY_PATH'])} PATH={shlex.quote(environment['PATH'])}"
        typer.echo(f"{paths} {shlex.join(argv)}")
        return
    os.execve(argv[0], argv, environment)  # the server replaces this process: signals reach it directly
