"""`build_engine`: ONNX -> TensorRT plan + manifest, through the engine cache.

Everything up to the TensorRT calls (metadata, profiles, precision policy, plugins needed, cache key) is
decided first, so a bad request fails in a second, before TensorRT or a GPU is touched. The TensorRT part
is `_build_plan` and `_profile_memory`: thin calls to the documented TensorRT 10/11 Python API, which
TensorRT for RTX shares; what differs between the two lives in `effrestore.trt.flavours`.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effrestore import __version__
from effrestore._atomic import atomic_path
from effrestore.errors import ConfigError, EngineError
from effrestore.model_file import ModelFile
from effrestore.trt.cache import EngineCache, cache_key, copy_engine
from effrestore.trt.environment import Gpu, local_gpus
from effrestore.trt.flavours import Flavour, choose_flavour
from effrestore.trt.manifest import BuilderOptions, EngineManifest, manifest_path, read_manifest
from effrestore.trt.precision import PrecisionPolicy, precision_policy
from effrestore.trt.profiles import DEFAULT_TILES, Profile, tile_ladder
from effrestore.trt.tensor_limits import within_limit

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    plan: Path
    manifest: EngineManifest
    from_cache: bool


def check_onnx(model: ModelFile) -> ModelFile:
    """`model` when it is an ONNX file an engine can be built from: one image input, one output."""
    if model.kind != "onnx":
        raise ConfigError(f"{model.path}: give an ONNX file (export one with `effrestore export`)")
    graph = model.proto(with_weights=False).graph
    initializers = {t.name for t in graph.initializer}
    if len([i for i in graph.input if i.name not in initializers]) != 1 or len(graph.output) != 1:
        raise EngineError(f"{model.path}: effrestore engines take one image input and one output")
    return model


@dataclass(frozen=True)
class BuildTarget:
    """Which TensorRT builds, on which GPU (None: none here), for which compute capabilities."""

    flavour: Flavour
    version: str
    gpu: Gpu | None
    capabilities: tuple[str, ...]


def build_target(target: str = "auto", capabilities: Sequence[str] = (), onnx_hint: str = "MODEL.onnx") -> BuildTarget:
    """The flavour, GPU and compute capabilities of a build here, or the error that says what to do instead."""
    gpus = local_gpus()
    fallback = f"or run the ONNX model itself: effrestore run IMAGE --model {onnx_hint} --backend onnxruntime"
    try:
        flavour, version = choose_flavour(target, bool(gpus))
    except EngineError as exc:
        raise EngineError(f"{exc}; {fallback}") from None
    if not gpus and not flavour.builds_without_gpu:
        raise EngineError(
            f"no NVIDIA GPU or driver found (nvidia-smi lists none); {flavour.name} builds on the GPU it targets "
            f"(--target tensorrt-rtx builds without one); {fallback}"
        )
    gpu = gpus[0] if gpus else None
    chosen = tuple(capabilities) or flavour.default_capabilities or (gpu.compute_capability,)  # type: ignore[union-attr]
    return BuildTarget(flavour, version, gpu, chosen)


def build_engine(
    source: str | Path | ModelFile,
    output: str | Path,
    *,
    tiles: Sequence[int] | None = None,
    profile: Profile | None = None,
    max_batch: int = 1,
    precision: str = "fp32",
    builder: BuilderOptions | None = None,
    timing_cache: str | Path | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    target: str = "auto",
    compute_capabilities: Sequence[str] = (),
    log: Log = lambda _: None,
) -> BuildResult:
    """Builds (or takes from the engine cache) the engine for an ONNX file (a path, a shipped model's name or a
    `ModelFile`) and writes `output` + manifest.
    `target`: auto, tensorrt or tensorrt-rtx; `compute_capabilities` (TensorRT-RTX): e.g. ("8.6", "8.9"),
    default the flavour's set."""
    facts = check_onnx(ModelFile.resolve(source))
    onnx_path, output = facts.path, Path(output)
    builder = builder or BuilderOptions()
    profiles = [profile] if profile is not None else tile_ladder(facts.meta, tiles or DEFAULT_TILES, max_batch)
    for p in profiles:
        p.validate(facts.meta)
    profiles = within_limit(profiles, facts, log)
    where = build_target(target, compute_capabilities, str(onnx_path))
    flavour, version, gpu = where.flavour, where.version, where.gpu
    flavour.check_request(builder, tuple(compute_capabilities))
    policy = precision_policy(precision, version, flavour)
    key = cache_key(
        onnx_sha256=facts.sha256,
        profiles=profiles,
        precision=precision,
        flavour=flavour.name,
        tensorrt_version=version,
        gpu_name=None if flavour.builds_without_gpu or gpu is None else gpu.name,
        compute_capabilities=where.capabilities,
        builder=builder,
        plugins=facts.plugins,
    )
    cache = EngineCache(cache_dir)
    if use_cache and (hit := cache.lookup(key)):
        log(f"engine cache hit: {hit}")
        return BuildResult(copy_engine(hit, output), read_manifest(output), from_cache=True)
    with cache.locked(key) if use_cache else contextlib.nullcontext():
        if use_cache and (hit := cache.lookup(key)):  # another process built it while we waited
            return BuildResult(copy_engine(hit, output), read_manifest(output), from_cache=True)
        passes = [policy.onnx_pass] if policy.onnx_pass else []
        if facts.plugins and not flavour.has_plugins:
            passes.insert(0, "decompose-attention")
            names = ", ".join(p.name for p in facts.plugins)
            log(f"{flavour.name} has no plugins: decomposing the effrestore custom ops ({names}) into ONNX ops")
        elif facts.plugins:
            from effrestore.trt.plugins import register_plugins

            register_plugins()
        machine = gpu.name if gpu else "this machine (no GPU)"
        log(
            f"building with {flavour.name} {version} on {machine} for compute capability "
            f"{', '.join(where.capabilities)} ({len(profiles)} profile(s), {precision})"
        )
        plan_bytes = _build_plan(facts, profiles, policy, builder, timing_cache, where, passes)
        runs_here = gpu is not None and flavour.runs_on(
            where.capabilities, gpu.compute_capability, builder.hardware_compat
        )
        memory = _profile_memory(flavour, plan_bytes, len(profiles)) if runs_here else [None] * len(profiles)
        with atomic_path(output) as tmp:
            tmp.write_bytes(plan_bytes)
        manifest = EngineManifest(
            effrestore_version=__version__,
            flavour=flavour.name,
            tensorrt_version=version,
            gpu_name=gpu.name if gpu else None,
            compute_capabilities=where.capabilities,
            input_name=facts.io_names[0],
            output_name=facts.io_names[1],
            profiles=tuple(profiles),
            device_memory=tuple(memory),
            precision=precision,
            builder=builder,
            model=facts.meta,
            onnx_path=str(onnx_path),
            onnx_sha256=facts.sha256,
            engine_sha256=hashlib.sha256(plan_bytes).hexdigest(),
            engine_bytes=len(plan_bytes),
            plugins=facts.plugins,
        )
        manifest.write(manifest_path(output))
        if use_cache:
            cache.store(key, output)
    return BuildResult(output, manifest, from_cache=False)


@contextlib.contextmanager
def _prepared_onnx(model: ModelFile, passes: Sequence[str]) -> Any:
    """The ONNX to parse: as given, or converted by `passes` into a temporary file (never beside the input)."""
    if not passes:
        yield model.path
        return
    import onnx

    from effrestore.export.passes import apply_passes
    from effrestore.onnx_files import save_onnx

    with tempfile.TemporaryDirectory(prefix="effrestore-build-") as folder:
        converted = Path(folder) / f"{model.path.stem}.onnx"
        copy = onnx.ModelProto()
        copy.CopyFrom(model.proto())  # the passes rewrite their input; the ModelFile's proto stays as read
        save_onnx(apply_passes(copy, list(passes)), converted)
        yield converted


def _build_plan(
    facts: ModelFile,
    profiles: Sequence[Profile],
    policy: PrecisionPolicy,
    options: BuilderOptions,
    timing_cache: str | Path | None,
    where: BuildTarget,
    passes: Sequence[str],
) -> bytes:
    trt = where.flavour.import_module()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if policy.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    onnx_path = facts.path
    with _prepared_onnx(facts, passes) as prepared:
        parsed = parser.parse_from_file(str(prepared))
    if not parsed:
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        command = shlex.join(["effrestore", "inspect", str(onnx_path), "--target", where.flavour.name])
        raise EngineError(
            f"{onnx_path}: TensorRT's ONNX parser refused the model: {errors}. `{command}` lists the unsupported parts"
        )
    config = builder.create_builder_config()
    if options.workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace)
    if options.builder_opt_level is not None:
        config.builder_optimization_level = options.builder_opt_level
    for flag in policy.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    where.flavour.configure(trt, config, options, where.capabilities)
    pinned = {getattr(trt.LayerType, name) for name in policy.fp32_layer_types}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.type in pinned:
            layer.precision = trt.float32
            for output_index in range(layer.num_outputs):
                layer.set_output_type(output_index, trt.float32)
    for p in profiles:
        optimization_profile = builder.create_optimization_profile()
        optimization_profile.set_shape(facts.io_names[0], p.min, p.opt, p.max)
        config.add_optimization_profile(optimization_profile)
    cache_file = Path(timing_cache) if timing_cache else None
    if cache_file is not None:
        cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"{onnx_path}: {where.flavour.name} could not build an engine (its log above says why)")
    if cache_file is not None:
        with atomic_path(cache_file) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _profile_memory(flavour: Flavour, plan: bytes, count: int) -> list[int | None]:
    """Device memory each profile's execution context needs, measured from the built engine."""
    trt = flavour.import_module()
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan)
    if engine is None:
        raise EngineError("TensorRT could not load the engine it just built")
    return [int(engine.get_device_memory_size_for_profile_v2(i)) for i in range(count)]
