"""`build_engine`: ONNX -> TensorRT plan + manifest, through the engine cache.

Everything up to the TensorRT calls (metadata, profiles, precision policy, plugins needed, cache key) is
decided first, so a bad request fails in a second, before TensorRT or a GPU is touched. The TensorRT part
is `_build_plan` and `_profile_memory`: thin calls to the documented TensorRT 10/11 Python API.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effrestore import __version__
from effrestore._atomic import atomic_path
from effrestore._lazy import require
from effrestore.errors import EngineError
from effrestore.metadata import ModelMeta
from effrestore.onnx_files import load_onnx
from effrestore.trt.cache import EngineCache, cache_key, copy_engine
from effrestore.trt.environment import Gpu, installed_tensorrt_version, local_gpus
from effrestore.trt.manifest import BuilderOptions, EngineManifest, Plugin, manifest_path, read_manifest
from effrestore.trt.onnx_support import PLUGIN_DOMAIN
from effrestore.trt.precision import PrecisionPolicy, precision_policy
from effrestore.trt.profiles import DEFAULT_TILES, Profile, tile_ladder

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    plan: Path
    manifest: EngineManifest
    from_cache: bool


@dataclass(frozen=True)
class OnnxFacts:
    """What the build needs to know about the ONNX file, read without TensorRT."""

    sha256: str
    meta: ModelMeta
    input_name: str
    output_name: str
    plugins: tuple[Plugin, ...]


def onnx_facts(path: Path) -> OnnxFacts:
    model = load_onnx(path)
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise EngineError(f"{path}: effrestore engines take one image input and one output")
    props = {p.key: p.value for p in model.metadata_props}
    plugins = {
        Plugin(node.op_type, _string_attribute(node, "plugin_namespace"), _string_attribute(node, "plugin_version"))
        for node in model.graph.node
        if node.domain == PLUGIN_DOMAIN
    }
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return OnnxFacts(
        digest,
        ModelMeta.from_props(props),
        model.graph.input[0].name,
        model.graph.output[0].name,
        tuple(sorted(plugins, key=lambda p: p.name)),
    )


def _string_attribute(node: Any, name: str) -> str:
    for attribute in node.attribute:
        if attribute.name == name:
            return attribute.s.decode()
    raise EngineError(f"node {node.name} ({node.op_type}) lacks the {name!r} attribute; re-export the model")


def require_tensorrt_machine(onnx_hint: str = "MODEL.onnx") -> tuple[str, Gpu]:
    """The local TensorRT version and GPU, or the friendly error that says what to run instead."""
    version = installed_tensorrt_version()
    fallback = (
        f"without TensorRT, run the ONNX model itself: effrestore run IMAGE --model {onnx_hint} --backend onnxruntime"
    )
    if version is None:
        raise EngineError(
            "TensorRT is not installed. On a machine with an NVIDIA GPU: pip install 'effrestore[tensorrt]'; "
            + fallback
        )
    gpus = local_gpus()
    if not gpus:
        raise EngineError(f"no NVIDIA GPU or driver found (nvidia-smi lists none); TensorRT needs one; {fallback}")
    return version, gpus[0]


def build_engine(
    onnx_path: str | Path,
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
    log: Log = lambda _: None,
) -> BuildResult:
    """Builds (or takes from the engine cache) the engine for `onnx_path` and writes `output` + manifest."""
    onnx_path, output = Path(onnx_path), Path(output)
    builder = builder or BuilderOptions()
    facts = onnx_facts(onnx_path)
    profiles = [profile] if profile is not None else tile_ladder(facts.meta, tiles or DEFAULT_TILES, max_batch)
    for p in profiles:
        p.validate(facts.meta)
    version, gpu = require_tensorrt_machine(str(onnx_path))
    policy = precision_policy(precision, version)
    key = cache_key(
        onnx_sha256=facts.sha256,
        profiles=profiles,
        precision=precision,
        tensorrt_version=version,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
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
        if facts.plugins:
            from effrestore.trt.plugins import register_plugins

            register_plugins()
        log(f"building with TensorRT {version} on {gpu.name} ({len(profiles)} profile(s), {precision})")
        plan_bytes = _build_plan(onnx_path, facts, profiles, policy, builder, timing_cache)
        memory = _profile_memory(plan_bytes, len(profiles))
        with atomic_path(output) as tmp:
            tmp.write_bytes(plan_bytes)
        manifest = EngineManifest(
            effrestore_version=__version__,
            tensorrt_version=version,
            gpu_name=gpu.name,
            compute_capability=gpu.compute_capability,
            input_name=facts.input_name,
            output_name=facts.output_name,
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


def _prepared_onnx(onnx_path: Path, policy: PrecisionPolicy) -> Path:
    """The ONNX to parse: as given, or converted by the export pass the precision policy names (TRT >= 11)."""
    if policy.onnx_pass is None:
        return onnx_path
    from effrestore.export.passes import apply_passes
    from effrestore.onnx_files import save_onnx

    converted = onnx_path.with_name(f"{onnx_path.stem}.{policy.onnx_pass}.onnx")
    save_onnx(apply_passes(load_onnx(onnx_path), [policy.onnx_pass]), converted)
    return converted


def _build_plan(
    onnx_path: Path,
    facts: OnnxFacts,
    profiles: Sequence[Profile],
    policy: PrecisionPolicy,
    options: BuilderOptions,
    timing_cache: str | Path | None,
) -> bytes:
    trt = require("tensorrt", "building a TensorRT engine")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if policy.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(_prepared_onnx(onnx_path, policy))):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(
            f"{onnx_path}: TensorRT's ONNX parser refused the model: {errors}. "
            f"`effrestore inspect {onnx_path} --target tensorrt` lists the unsupported parts"
        )
    config = builder.create_builder_config()
    if options.workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace)
    if options.builder_opt_level is not None:
        config.builder_optimization_level = options.builder_opt_level
    for flag in policy.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if options.hardware_compat:
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    pinned = {getattr(trt.LayerType, name) for name in policy.fp32_layer_types}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.type in pinned:
            layer.precision = trt.float32
            for output_index in range(layer.num_outputs):
                layer.set_output_type(output_index, trt.float32)
    for p in profiles:
        optimization_profile = builder.create_optimization_profile()
        optimization_profile.set_shape(facts.input_name, p.min, p.opt, p.max)
        config.add_optimization_profile(optimization_profile)
    cache_file = Path(timing_cache) if timing_cache else None
    if cache_file is not None:
        cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"{onnx_path}: TensorRT could not build an engine (its log above says why)")
    if cache_file is not None:
        with atomic_path(cache_file) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _profile_memory(plan: bytes, count: int) -> list[int]:
    """Device memory each profile's execution context needs, measured from the built engine."""
    trt = require("tensorrt", "measuring a TensorRT engine")
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan)
    if engine is None:
        raise EngineError("TensorRT could not load the engine it just built")
    return [int(engine.get_device_memory_size_for_profile_v2(i)) for i in range(count)]
