"""The JSON manifest written next to every engine (`MODEL.plan.json`).

An engine runs only on the TensorRT version and GPU it was built for, and a plan file cannot say so
without being deserialised; the manifest records everything needed to decide that beforehand, to plan
memory from measured engine numbers, and to print the exact rebuild command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effrestore._atomic import atomic_path
from effrestore.errors import EngineError, ModelMetadataError
from effrestore.metadata import ModelMeta
from effrestore.trt.profiles import Profile

SCHEMA = "effrestore.engine-manifest/2"


@dataclass(frozen=True)
class Plugin:
    name: str
    namespace: str
    version: str


@dataclass(frozen=True)
class BuilderOptions:
    """Builder settings that change the engine (and so are part of the cache key)."""

    workspace: int | None = None
    builder_opt_level: int | None = None
    version_compatible: bool = False
    hardware_compat: bool = False


@dataclass(frozen=True)
class EngineManifest:
    effrestore_version: str
    flavour: str  # "tensorrt" or "tensorrt-rtx" (effrestore.trt.flavours)
    tensorrt_version: str
    gpu_name: str | None  # the GPU the build ran on; None for a build without one (TensorRT-RTX)
    compute_capabilities: tuple[str, ...]  # the GPUs the engine is built for
    input_name: str
    output_name: str
    profiles: tuple[Profile, ...]
    device_memory: tuple[int | None, ...]  # per profile (bytes), measured when built on a GPU
    precision: str
    builder: BuilderOptions
    model: ModelMeta
    onnx_path: str
    onnx_sha256: str
    engine_sha256: str
    engine_bytes: int
    plugins: tuple[Plugin, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "effrestore_version": self.effrestore_version,
            "flavour": self.flavour,
            "tensorrt_version": self.tensorrt_version,
            "gpu": {"name": self.gpu_name, "compute_capabilities": list(self.compute_capabilities)},
            "input_name": self.input_name,
            "output_name": self.output_name,
            "profiles": [
                {**p.to_json(), "device_memory": m} for p, m in zip(self.profiles, self.device_memory, strict=True)
            ],
            "precision": self.precision,
            "builder": vars(self.builder),
            "model": json.loads(self.model.to_json()),
            "onnx": {"path": self.onnx_path, "sha256": self.onnx_sha256},
            "engine": {"sha256": self.engine_sha256, "bytes": self.engine_bytes},
            "plugins": [vars(p) for p in self.plugins],
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "manifest") -> EngineManifest:
        """Validates the structure and types (a hand-edited or foreign file gets a precise error)."""
        check = _Checker(source)
        check.kind(data, dict, "the manifest")
        if data.get("schema") != SCHEMA:
            raise EngineError(
                f"{source}: schema {data.get('schema')!r} is not {SCHEMA!r}; rebuild the engine with this "
                "effrestore (`effrestore build`)"
            )
        gpu = check.key(data, "gpu", dict)
        profiles = check.key(data, "profiles", list)
        if not profiles:
            raise EngineError(f"{source}: 'profiles' is empty; an engine has at least one profile")
        parsed, memory = [], []
        for index, entry in enumerate(profiles):
            check.kind(entry, dict, f"profiles[{index}]")
            for key in ("min", "opt", "max"):
                dims = check.key(entry, key, list, f"profiles[{index}].")
                if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims):
                    raise EngineError(f"{source}: profiles[{index}].{key} must be 4 positive integers, got {dims}")
            parsed.append(Profile.from_json(entry))
            memory.append(check.key(entry, "device_memory", (int, type(None)), f"profiles[{index}]."))
        builder = check.key(data, "builder", dict)
        onnx, engine = check.key(data, "onnx", dict), check.key(data, "engine", dict)
        plugins = check.key(data, "plugins", list)
        return cls(
            effrestore_version=check.key(data, "effrestore_version", str),
            flavour=check.key(data, "flavour", str),
            tensorrt_version=check.key(data, "tensorrt_version", str),
            gpu_name=check.key(gpu, "name", (str, type(None)), "gpu."),
            compute_capabilities=tuple(check.strings(check.key(gpu, "compute_capabilities", list, "gpu."), "gpu.")),
            input_name=check.key(data, "input_name", str),
            output_name=check.key(data, "output_name", str),
            profiles=tuple(parsed),
            device_memory=tuple(memory),
            precision=check.key(data, "precision", str),
            builder=BuilderOptions(
                workspace=check.key(builder, "workspace", (int, type(None)), "builder."),
                builder_opt_level=check.key(builder, "builder_opt_level", (int, type(None)), "builder."),
                version_compatible=check.key(builder, "version_compatible", bool, "builder."),
                hardware_compat=check.key(builder, "hardware_compat", bool, "builder."),
            ),
            model=_model_meta(check.key(data, "model", dict), source),
            onnx_path=check.key(onnx, "path", str, "onnx."),
            onnx_sha256=check.key(onnx, "sha256", str, "onnx."),
            engine_sha256=check.key(engine, "sha256", str, "engine."),
            engine_bytes=check.key(engine, "bytes", int, "engine."),
            plugins=tuple(
                Plugin(
                    check.key(p, "name", str, "plugins[]."),
                    check.key(p, "namespace", str, "plugins[]."),
                    check.key(p, "version", str, "plugins[]."),
                )
                for p in plugins
            ),
            extra=data.get("extra", {}),
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def _model_meta(data: dict, source: str) -> ModelMeta:
    try:
        return ModelMeta.from_dict(data)
    except ModelMetadataError as exc:
        raise EngineError(f"{source}: in its 'model' section, {exc}; or rebuild the engine") from None


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def kind(self, value: Any, expected: type | tuple[type, ...], label: str) -> None:
        if isinstance(value, bool) and (expected is int or (isinstance(expected, tuple) and int in expected)):
            # JSON true is not a byte count
            raise EngineError(f"{self.source}: {label} must be an integer, got {value!r}")
        if not isinstance(value, expected):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise EngineError(f"{self.source}: {label} must be {names}, got {type(value).__name__}")

    def strings(self, values: list, label: str) -> list[str]:
        for value in values:
            self.kind(value, str, f"{label} entries")
        return values

    def key(self, data: dict, key: str, expected: type | tuple[type, ...], prefix: str = "") -> Any:
        self.kind(data, dict, prefix.rstrip(".") or "the manifest")  # an entry of a list may be anything
        if key not in data:
            raise EngineError(f"{self.source}: missing {prefix}{key!r}; the manifest is incomplete or not effrestore's")
        self.kind(data[key], expected, f"{prefix}{key}")
        return data[key]


def manifest_path(plan: str | Path) -> Path:
    plan = Path(plan)
    return plan.with_name(plan.name + ".json")


def read_manifest(plan: str | Path) -> EngineManifest:
    """The manifest beside `plan`; a missing or malformed one is an `EngineError` naming the fix."""
    path = manifest_path(plan)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise EngineError(
            f"{path}: no manifest beside the engine, so effrestore cannot check it before loading; rebuild the "
            "engine with `effrestore build MODEL.onnx -o ...` (it writes the manifest)"
        ) from None
    except OSError as exc:
        raise EngineError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise EngineError(f"{path}: not a manifest (not UTF-8 text); rebuild the engine (`effrestore build`)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EngineError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return EngineManifest.from_dict(data, str(path))
