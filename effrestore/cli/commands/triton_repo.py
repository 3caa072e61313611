"""`effrestore triton-repo`: a Triton Inference Server model repository entry for an ONNX or shipped model."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from effrestore.cli import _options
from effrestore.errors import ConfigError
from effrestore.model_file import ModelFile


def triton_repo(
    model: Annotated[
        str,
        typer.Argument(help="ONNX file (`effrestore export`), TensorRT engine (`effrestore build`) or shipped model."),
    ],
    repository: Annotated[Path, typer.Option("--output", "-o", help="Model repository folder.")],
    name: Annotated[str | None, typer.Option(help="Model name in the repository (default: from MODEL).")] = None,
    flavour: Annotated[
        str,
        typer.Option(
            "--flavour",
            "--flavor",
            help="python: whole images, tiled under --mem-budget in the server; onnx: tensors, client tiles; "
            "tensorrt: a standard TensorRT .plan in Triton's TensorRT backend (tensors, client tiles).",
        ),
    ] = "python",
    mem_budget: Annotated[
        str | None, _options.mem_budget_option("python flavour: memory budget per model instance.")
    ] = None,
    threads: Annotated[int | None, _options.threads_option("python flavour: CPU threads per instance.")] = None,
    image_dtype: Annotated[
        str, typer.Option(help="python flavour: uint8 or uint16 images (IMAGE and RESTORED).")
    ] = "uint8",
    strength: Annotated[
        float,
        typer.Option(
            help="python flavour: default blend of input (0) and model output (1); a request's own `strength` "
            "parameter overrides it."
        ),
    ] = 1.0,
    instances: Annotated[int, typer.Option(help="Model instances (instance_group count).")] = 1,
    gpu: Annotated[bool, typer.Option("--gpu", help="Instances on GPUs (KIND_GPU) instead of CPUs.")] = False,
    max_batch: Annotated[int, typer.Option(help="onnx flavour: largest batch of tiles Triton forms.")] = 8,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing entry of that name.")] = False,
    python_env: Annotated[
        Path | None,
        typer.Option(
            help="python flavour: the Python environment the entry runs in (Triton's EXECUTION_ENV_PATH), with "
            "effrestore and numpy<2 installed; checked now."
        ),
    ] = None,
) -> None:
    """Write REPOSITORY/NAME/{config.pbtxt, 1/model.onnx[, 1/model.py]} for Triton Inference Server.

    The python flavour needs effrestore (and, for Triton 2.51, numpy<2) in Triton's Python-backend
    environment (--python-env names one); clients send 8-bit (or, with --image-dtype uint16, 16-bit) H×W×C
    images (gray as H×W×1) as IMAGE and get RESTORED back. A --mem-budget is checked now by restoring a
    small image under it. The onnx flavour serves the network itself (N×C×H×W float32, dynamic batching).
    Prints the command that starts a server on the repository."""
    from effrestore.serving import write_triton_model

    file = ModelFile.resolve(model)
    if repository.exists() and not repository.is_dir():
        raise ConfigError(f"{repository}: exists and is not a folder; -o names the model repository folder")
    env = _checked_env(python_env) if python_env is not None and flavour == "python" else None
    if mem_budget is not None and flavour == "python" and file.kind == "onnx":  # engines: no GPU here
        _check_budget(file, mem_budget, threads)
    folder = write_triton_model(
        file,
        repository,
        name or Path(model).stem,
        flavour,
        overwrite=overwrite,
        instances=instances,
        gpu=gpu,
        max_batch=max_batch,
        mem_budget=mem_budget,
        threads=threads,
        image_dtype=image_dtype,
        strength=strength,
        python_env=env.root if env is not None else None,
    )
    typer.echo(f"wrote {folder} ({flavour} flavour); start a server on the repository with:")
    typer.echo(f"  {shlex.join(['tritonserver', '--model-repository', str(repository.resolve())])}")
    if env is not None:
        bundled = ["effrestore", "triton-serve", str(repository.resolve()), "--server-env", str(env.root)]
        typer.echo(f"  or, with the server nvidia-pytriton bundles: {shlex.join(bundled)}")


def _checked_env(root: Path):  # type: ignore[no-untyped-def]
    """The environment, with effrestore and a numpy the bundled Triton's Python backend works with."""
    from effrestore.serving.tritonserver import INSTALL_HINT, PythonEnv

    env = PythonEnv.at(root)
    if env.module_version("effrestore") is None:
        raise ConfigError(f"{env.root}: effrestore is not installed there; `{env.python} -m pip install effrestore`")
    numpy = env.module_version("numpy") or "0"
    if int(numpy.split(".")[0]) >= 2:
        raise ConfigError(
            f"{env.root}: has numpy {numpy}; Triton 2.51's Python backend returns empty responses with numpy 2: "
            f"`{env.python} -m pip install 'numpy<2'` (a fresh one: `{INSTALL_HINT}`)"
        )
    return env


def _check_budget(model: ModelFile, mem_budget: str, threads: int | None) -> None:
    """The budget proved as the server will prove it, so an entry whose every request would fail is not
    written."""
    from effrestore.runtime import Restorer
    from effrestore.serving.triton_python import prove_budget

    prove_budget(Restorer.load(model, mem_budget=mem_budget, threads=threads))
