"""`effrestore build`: an ONNX model -> a TensorRT engine (.plan) and its manifest, through the engine cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from effrestore.errors import ConfigError
from effrestore.model_file import ModelFile
from effrestore.runtime.memory import parse_bytes


def build(
    onnx_file: Annotated[
        str, typer.Argument(help="The .onnx model (from `effrestore export`), or a shipped model's name.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Engine file to write (.plan).")],
    precision: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (bf16: TensorRT 10 only).")] = "fp32",
    target: Annotated[
        str,
        typer.Option(
            help="auto, tensorrt or tensorrt-rtx. auto: standard TensorRT where it can build (a GPU is here), "
            "else TensorRT for RTX (builds without a GPU)."
        ),
    ] = "auto",
    compute_capability: Annotated[
        str | None,
        typer.Option(
            help="TensorRT for RTX: GPUs to build for, e.g. 8.6,8.9 (default 8.0,8.6,8.9,12.0: Ampere, Ada, "
            "Blackwell RTX; there is no Hopper target)."
        ),
    ] = None,
    tiles: Annotated[str | None, typer.Option(help="Tile sizes, one profile each (default 256,512,1024).")] = None,
    max_batch: Annotated[int, typer.Option(help="Largest tile batch each profile accepts.")] = 1,
    min_shape: Annotated[str | None, typer.Option(help="trtexec grammar, e.g. input:1x3x64x64.")] = None,
    opt_shape: Annotated[str | None, typer.Option(help="trtexec grammar, e.g. input:1x3x512x512.")] = None,
    max_shape: Annotated[str | None, typer.Option(help="trtexec grammar, e.g. input:1x3x1024x1024.")] = None,
    workspace: Annotated[str | None, typer.Option(help="Builder workspace limit, e.g. 4GiB.")] = None,
    builder_opt_level: Annotated[int | None, typer.Option(help="TensorRT builder optimisation level 0-5.")] = None,
    timing_cache: Annotated[Path | None, typer.Option(help="Timing cache file to read and update.")] = None,
    version_compatible: Annotated[
        bool, typer.Option("--version-compatible", help="Engine also runs on later TensorRT of the same major.")
    ] = False,
    hardware_compat: Annotated[
        bool, typer.Option("--hardware-compat", help="Engine runs on any Ampere or newer GPU.")
    ] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Engine cache folder (default: the user cache dir).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Build even when the cache has the engine.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Build a TensorRT engine, with a manifest that `run` and `inspect` check.

    Standard TensorRT builds for this machine's GPU; TensorRT for RTX (--target tensorrt-rtx) builds on any
    machine, GPU or not, for the --compute-capability list, and decomposes custom-op models first (it has
    no plugins). Without --min/--opt/--max-shape, the engine gets one profile per tile size, so `run` can
    pick the largest tile that fits a --mem-budget from each profile's device memory."""
    from effrestore.trt.builder import build_engine, check_onnx
    from effrestore.trt.manifest import BuilderOptions
    from effrestore.trt.profiles import profile_from_options

    model = check_onnx(ModelFile.resolve(onnx_file))
    profile = profile_from_options(model.io_names[0], model.meta, min_shape, opt_shape, max_shape)
    if profile is not None and tiles:
        raise ConfigError("give --tiles or --min/--opt/--max-shape, not both")
    try:
        tile_list = [int(t) for t in tiles.split(",")] if tiles else None
    except ValueError:
        raise ConfigError(f"--tiles takes comma-separated integers, got {tiles!r}") from None
    options = BuilderOptions(
        workspace=parse_bytes(workspace) if workspace else None,
        builder_opt_level=builder_opt_level,
        version_compatible=version_compatible,
        hardware_compat=hardware_compat,
    )
    result = build_engine(
        model,
        output,
        tiles=tile_list,
        profile=profile,
        max_batch=max_batch,
        precision=precision,
        builder=options,
        timing_cache=timing_cache,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        target=target,
        compute_capabilities=[c.strip() for c in compute_capability.split(",") if c.strip()]
        if compute_capability
        else (),
        log=lambda line: typer.echo(line, err=True),
    )
    if as_json:
        typer.echo(json.dumps(result.manifest.to_dict(), indent=2))
    else:
        origin = "from the engine cache" if result.from_cache else "built"
        typer.echo(f"{result.plan} ({origin}; manifest {result.plan}.json)")
