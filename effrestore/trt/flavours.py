"""The two TensorRT flavours effrestore builds for, and every difference between them, in one place.

- `tensorrt` (TensorRT 10/11, datacenter and desktop GPUs): builds on the GPU it targets (tactics are timed
  there), precision by builder flags before 11, version- and hardware-compatible engines, plugins.
- `tensorrt-rtx` (TensorRT for RTX, module `tensorrt_rtx`): builds ahead of time on any machine, GPU or not,
  for a list of compute capabilities (default 8.0, 8.6, 8.9, 12.0: Ampere, Ada, Blackwell RTX; there is no
  Hopper or datacenter-Blackwell target); networks are always strongly typed (fp16 comes from the ONNX
  itself); no version/hardware compatibility and no plugins, so custom-op models are decomposed first.

Which flavours are installed is found without importing them (`effrestore inspect` answers anywhere).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from effrestore.errors import ConfigError, EngineError
from effrestore.trt.manifest import BuilderOptions
from effrestore.trt.runtime_cache import PersistedCache, RuntimeCacheFile
from effrestore.trt.validity import engine_validity

TARGETS = ("auto", "tensorrt", "tensorrt-rtx")


@dataclass(frozen=True)
class Flavour(ABC):
    name: str
    module: str
    distributions: tuple[str, ...]
    magic: bytes  # the plan's first four bytes
    builds_without_gpu: bool
    has_plugins: bool
    default_capabilities: tuple[str, ...]  # build targets when none are asked for; () = the build GPU's
    install: str  # the pip command that installs it

    def import_module(self) -> ModuleType:
        try:
            return importlib.import_module(self.module)
        except ImportError as exc:
            raise EngineError(
                f"{self.name} is installed but fails to import ({exc}); reinstall: {self.install}"
            ) from None

    def version(self) -> str | None:
        """The installed package's version, or None when `import <module>` would fail."""
        if importlib.util.find_spec(self.module) is None:
            return None
        for distribution in self.distributions:
            try:
                return importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    @abstractmethod
    def strongly_typed(self, version: str) -> bool:
        """Whether networks carry their own types (no precision flags)."""

    @abstractmethod
    def header_version_plausible(self, major: int) -> bool:
        """Whether `major` read from a plan header can be this flavour's."""

    @abstractmethod
    def runs_on(self, capabilities: tuple[str, ...], local: str, hardware_compat: bool) -> bool:
        """Whether an engine built for `capabilities` runs on a GPU of compute capability `local`."""

    @abstractmethod
    def configure(self, trt: Any, config: Any, options: BuilderOptions, capabilities: tuple[str, ...]) -> None:
        """Sets the flavour's builder options on `config` (a refused option was caught by `check_request`)."""

    @abstractmethod
    def check_request(self, options: BuilderOptions, capabilities: tuple[str, ...]) -> None:
        """Refuses, before any build, the options this flavour cannot honour."""

    @abstractmethod
    def validity(self, plan: Path) -> tuple[list[str], list[str]]:
        """(problems, notes) from the flavour's own check of the plan's header, made before deserialising."""

    @abstractmethod
    def execution_context(self, trt: Any, engine: Any, cache: RuntimeCacheFile) -> tuple[Any, PersistedCache | None]:
        """An execution context with user-managed device memory, and the runtime cache it fills (if any)."""


class _StandardTensorRT(Flavour):
    def strongly_typed(self, version: str) -> bool:
        return major_version(version) >= 11

    def header_version_plausible(self, major: int) -> bool:
        return 8 <= major <= 99  # plans before TensorRT 8.6 did not carry the version here

    def runs_on(self, capabilities: tuple[str, ...], local: str, hardware_compat: bool) -> bool:
        """Same compute capability; an Ampere+ hardware-compatible engine runs on any capability >= 8.0."""
        return float(local) >= 8.0 if hardware_compat else local in capabilities

    def configure(self, trt: Any, config: Any, options: BuilderOptions, capabilities: tuple[str, ...]) -> None:
        if options.version_compatible:
            config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        if options.hardware_compat:
            config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS

    def check_request(self, options: BuilderOptions, capabilities: tuple[str, ...]) -> None:
        if capabilities:
            raise ConfigError(
                "standard TensorRT builds for the GPU it runs on; --compute-capability is for --target tensorrt-rtx"
            )

    def validity(self, plan: Path) -> tuple[list[str], list[str]]:
        return [], []  # no header check of its own: the manifest and header checks are all there is

    def execution_context(self, trt: Any, engine: Any, cache: RuntimeCacheFile) -> tuple[Any, PersistedCache | None]:
        return engine.create_execution_context(trt.ExecutionContextAllocationStrategy.USER_MANAGED), None


class _TensorRtRtx(Flavour):
    def strongly_typed(self, version: str) -> bool:
        return True

    def header_version_plausible(self, major: int) -> bool:
        return 1 <= major <= 99

    def runs_on(self, capabilities: tuple[str, ...], local: str, hardware_compat: bool) -> bool:
        return local in capabilities

    def configure(self, trt: Any, config: Any, options: BuilderOptions, capabilities: tuple[str, ...]) -> None:
        config.num_compute_capabilities = len(capabilities)
        for index, capability in enumerate(capabilities):
            config.set_compute_capability(getattr(trt.ComputeCapability, rtx_capability_name(capability)), index)

    def check_request(self, options: BuilderOptions, capabilities: tuple[str, ...]) -> None:
        if options.version_compatible or options.hardware_compat:
            raise ConfigError(
                "TensorRT for RTX has no version- or hardware-compatible engines (its engines are built for the "
                "compute capabilities given by --compute-capability); drop --version-compatible/--hardware-compat"
            )
        for capability in capabilities:
            rtx_capability_name(capability)

    def validity(self, plan: Path) -> tuple[list[str], list[str]]:
        return engine_validity(self.import_module(), plan)

    def execution_context(self, trt: Any, engine: Any, cache: RuntimeCacheFile) -> tuple[Any, PersistedCache | None]:
        """Kernels are compiled when the engine first runs a shape; the runtime cache keeps them across runs."""
        config = engine.create_runtime_config()
        config.set_execution_context_allocation_strategy(trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        kernels = config.create_runtime_cache()
        blob = cache.load()
        if blob:
            kernels.deserialize(blob)  # a cache from another environment is refused; the empty one stays
        config.set_runtime_cache(kernels)
        return engine.create_execution_context(config), PersistedCache(cache, kernels, config)


TENSORRT = _StandardTensorRT(
    name="tensorrt",
    module="tensorrt",
    distributions=("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11"),
    magic=b"ftrt",
    builds_without_gpu=False,
    has_plugins=True,
    default_capabilities=(),
    install="pip install 'effrestore[tensorrt]'",
)
TENSORRT_RTX = _TensorRtRtx(
    name="tensorrt-rtx",
    module="tensorrt_rtx",
    distributions=("tensorrt-rtx-cu12", "tensorrt-rtx", "tensorrt-rtx-cu13"),
    magic=b"vtrt",
    builds_without_gpu=True,
    has_plugins=False,
    default_capabilities=("8.0", "8.6", "8.9", "12.0"),
    install="pip install 'effrestore[tensorrt-rtx]'",
)
FLAVOURS = (TENSORRT, TENSORRT_RTX)
# TensorRT-RTX's ComputeCapability members by capability; SM75 exists but cannot build these models
# ("FP32 GEMM is not supported"), so it is not offered.
_RTX_CAPABILITIES = {"8.0": "SM80", "8.6": "SM86", "8.9": "SM89", "12.0": "SM120", "12.1": "SM121"}


def rtx_capability_name(capability: str) -> str:
    if capability not in _RTX_CAPABILITIES:
        raise ConfigError(
            f"TensorRT for RTX cannot target compute capability {capability}; choose from "
            f"{', '.join(_RTX_CAPABILITIES)} (it has no Hopper 9.0 or datacenter Blackwell 10.0 target)"
        )
    return _RTX_CAPABILITIES[capability]


def major_version(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        raise ConfigError(f"cannot read TensorRT version {version!r}") from None


def flavour_named(name: str) -> Flavour:
    for flavour in FLAVOURS:
        if flavour.name == name:
            return flavour
    raise ConfigError(f"unknown TensorRT flavour {name!r}; choose from {', '.join(f.name for f in FLAVOURS)}")


def flavour_for_magic(magic: bytes) -> Flavour | None:
    return next((f for f in FLAVOURS if f.magic == magic), None)


def installed_flavours() -> list[tuple[Flavour, str]]:
    """(flavour, version) for each installed flavour, standard TensorRT first."""
    return [(flavour, version) for flavour in FLAVOURS if (version := flavour.version()) is not None]


def choose_flavour(target: str, have_gpu: bool) -> tuple[Flavour, str]:
    """The flavour to build with for `--target`: `auto` takes standard TensorRT when it can build here (it
    needs a GPU), else TensorRT for RTX. A missing flavour is an EngineError naming the install command."""
    if target not in TARGETS:
        raise ConfigError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    installed = dict((f.name, (f, v)) for f, v in installed_flavours())
    if target != "auto":
        if target not in installed:
            flavour = flavour_named(target)
            raise EngineError(f"{flavour.name} is not installed: {flavour.install}")
        return installed[target]
    usable = [(f, v) for f, v in installed.values() if have_gpu or f.builds_without_gpu]
    if usable:
        return usable[0]
    if installed:
        raise EngineError(
            "standard TensorRT builds only on a machine with an NVIDIA GPU, and none is here; build without one "
            f"with TensorRT for RTX: {TENSORRT_RTX.install}, then --target tensorrt-rtx"
        )
    raise EngineError(
        f"TensorRT is not installed: {TENSORRT_RTX.install} (builds anywhere, runs on RTX/Ampere/Ada/Blackwell "
        f"GPUs) or, on a machine with an NVIDIA GPU, {TENSORRT.install}"
    )
