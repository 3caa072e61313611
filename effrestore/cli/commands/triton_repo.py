"""`effrestore triton-repo`: a Triton Inference Server model repository entry for an ONNX or shipped model."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from effrestore.cli import _options
from effrestore.errors import ConfigError


def triton_repo(
    model: Annotated[str, typer.Argument(help="ONNX file (from `effrestore export`) or shipped model name.")],
    repository: Annotated[Path, typer.Option("--output", "-o", help="Model repository folder.")],
    name: Annotated[str | None, typer.Option(help="Model name in the repository (default: from MODEL).")] = None,
    flavor: Annotated[
        str,
        typer.Option(help="python: whole images, tiled under --mem-budget in the server; onnx: tensors, client tiles."),
    ] = "python",
    mem_budget: Annotated[
        str | None, _options.mem_budget_option("python flavour: memory budget per model instance.")
    ] = None,
    threads: Annotated[int | None, _options.threads_option("python flavour: CPU threads per instance.")] = None,
    image_dtype: Annotated[
        str, typer.Option(help="python flavour: uint8 or uint16 images (IMAGE and RESTORED).")
    ] = "uint8",
    instances: Annotated[int, typer.Option(help="Model instances (instance_group count).")] = 1,
    gpu: Annotated[bool, typer.Option("--gpu", help="Instances on GPUs (KIND_GPU) instead of CPUs.")] = False,
    max_batch: Annotated[int, typer.Option(help="onnx flavour: largest batch of tiles Triton forms.")] = 8,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing entry of that name.")] = False,
) -> None:
    """Write REPOSITORY/NAME/{config.pbtxt, 1/model.onnx[, 1/model.py]} for Triton Inference Server.

    The python flavour needs `pip install effrestore` in Triton's Python-backend environment; clients send
    8-bit (or, with --image-dtype uint16, 16-bit) H×W×C images as IMAGE and get RESTORED back. The onnx
    flavour serves the network itself (N×C×H×W float32, dynamic batching)."""
    from effrestore.serving import write_triton_model
    from effrestore.zoo import require_entry

    path = Path(model)
    if path.suffix.lower() != ".onnx":
        if path.exists():
            command = shlex.join(["effrestore", "export", str(path), "-o", "m.onnx"])
            raise ConfigError(f"{path}: Triton serves ONNX; export it first with `{command}`")
        path = require_entry(model).onnx
    if repository.exists() and not repository.is_dir():
        raise ConfigError(f"{repository}: exists and is not a folder; -o names the model repository folder")
    folder = write_triton_model(
        path,
        repository,
        name or Path(model).stem,
        flavor,
        overwrite=overwrite,
        instances=instances,
        gpu=gpu,
        max_batch=max_batch,
        mem_budget=mem_budget,
        threads=threads,
        image_dtype=image_dtype,
    )
    typer.echo(f"wrote {folder} ({flavor} flavour); start with: tritonserver --model-repository {repository}")
