"""TensorRT backend: runs a `.plan` built by `effrestore build`.

The manifest is checked before TensorRT deserialises anything (a foreign engine otherwise fails with an
opaque serialisation error). Either flavour (TensorRT, TensorRT for RTX: the manifest says which) runs
through the same calls. Context memory is user-managed and sized for the active profile; inputs and
outputs live in device buffers allocated with cuda-python. The memory planner uses the per-profile device
memory the loaded engine reports, so tile choice under a budget uses engine numbers (an engine built
without a GPU has none in its manifest), and the measured peak counts the device memory it allocates.
"""

from __future__ import annotations

import re
import shlex
import threading
from pathlib import Path
from typing import Any

import numpy as np

from effrestore._lazy import require
from effrestore.errors import BackendUnavailableError, ConfigError, TileError
from effrestore.model_file import ModelFile
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.backends.registry import OpenRequest, register_backend
from effrestore.runtime.memory import AllocationTracker
from effrestore.trt.doctor import diagnose
from effrestore.trt.environment import local_gpus
from effrestore.trt.flavours import flavour_named
from effrestore.trt.manifest import EngineManifest
from effrestore.trt.runtime_cache import CacheEnvironment, RuntimeCacheFile


def cuda_device_index(device: str) -> int:
    """The GPU index of "cuda" or "cuda:N"."""
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        raise ConfigError(f"the TensorRT backend runs on a GPU: device must be cuda or cuda:N, got {device!r}")
    return int(match.group(1) or 0)


def check_engine(path: Path, device_index: int = 0) -> EngineManifest:
    """The engine's manifest when the engine will run on this machine's GPU `device_index`; otherwise the
    error with the way out."""
    gpus = local_gpus()
    if gpus and device_index >= len(gpus):
        raise ConfigError(
            f"cuda:{device_index} asked for, but this machine has {len(gpus)} GPU(s): cuda:0 to cuda:{len(gpus) - 1}"
        )
    diagnosis = diagnose(path, gpus[device_index : device_index + 1], ask_tensorrt=True)
    if diagnosis.runs_here and diagnosis.manifest is not None:
        return diagnosis.manifest
    onnx = diagnosis.manifest.onnx_path if diagnosis.manifest else "MODEL.onnx"
    fixes = [f"rebuild it here: {diagnosis.rebuild_command}"] if diagnosis.rebuild_command else []
    fixes.append(f"or run the ONNX model with ONNX Runtime: effrestore run IMAGE --model {onnx} --backend onnxruntime")
    raise BackendUnavailableError(f"{path} cannot run here: " + "; ".join(diagnosis.problems) + ". " + "; ".join(fixes))


def _cuda_runtime() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        cudart = require("cuda.cudart", "the TensorRT backend's device buffers (pip install cuda-python)")
    return cudart


class _Cuda:
    """The few CUDA runtime calls the backend needs, with errors turned into exceptions; every allocation is
    counted by `tracker`, which is what a memory budget on this backend bounds."""

    def __init__(self, resident: int, device_index: int) -> None:
        self.rt = _cuda_runtime()
        self.call(self.rt.cudaSetDevice(device_index))
        self.driver_version = int(self.call(self.rt.cudaDriverGetVersion()))
        attribute = self.rt.cudaDeviceAttr
        major = self.call(self.rt.cudaDeviceGetAttribute(attribute.cudaDevAttrComputeCapabilityMajor, device_index))
        minor = self.call(self.rt.cudaDeviceGetAttribute(attribute.cudaDevAttrComputeCapabilityMinor, device_index))
        self.compute_capability = f"{major}.{minor}"  # of the device CUDA numbers `device_index` (VISIBLE_DEVICES)
        self.stream = self.call(self.rt.cudaStreamCreate())
        self.handle = int(self.stream)  # TensorRT takes the stream as an integer handle
        self.tracker = AllocationTracker(resident, self.free_memory)

    def call(self, result: tuple) -> Any:
        error, *values = result
        if error != self.rt.cudaError_t.cudaSuccess:
            raise TileError(f"CUDA call failed: {self.rt.cudaGetErrorString(error)[1].decode()}")
        return values[0] if len(values) == 1 else values

    def malloc(self, size: int) -> int:
        pointer = int(self.call(self.rt.cudaMalloc(max(size, 1))))
        self.tracker.allocated(size)
        return pointer

    def free(self, pointer: int, size: int) -> None:
        self.call(self.rt.cudaFree(pointer))
        self.tracker.released(size)

    def free_memory(self) -> int:
        free, _total = self.call(self.rt.cudaMemGetInfo())
        return int(free)

    def to_device(self, pointer: int, array: np.ndarray) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.call(self.rt.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, kind, self.stream))

    def to_host(self, array: np.ndarray, pointer: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.call(self.rt.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, kind, self.stream))

    def synchronize(self) -> None:
        self.call(self.rt.cudaStreamSynchronize(self.stream))

    def destroy(self) -> None:
        """Frees the stream; nothing runs on this object after."""
        self.call(self.rt.cudaStreamDestroy(self.stream))


def _build_first(model: ModelFile) -> str:
    command = shlex.join(["effrestore", "build", str(model.path), "-o", str(model.path.with_suffix(".plan"))])
    return f"the TensorRT backend runs engines; build one with `{command}`, or run this file with --backend onnxruntime"


@register_backend(
    "tensorrt",
    kinds=("engine",),
    devices=("cuda",),
    priority=10,
    requires=None,  # which TensorRT (or TensorRT for RTX) the engine needs is in its manifest: checked on open
    wrong_kind=_build_first,
)
class TensorRTBackend(Backend):
    @classmethod
    def open(cls, request: OpenRequest) -> Backend:
        return cls(request.model.path, request.device)

    def __init__(self, path: Path, device: str | None = None) -> None:
        device = device or "cuda:0"
        index = cuda_device_index(device)
        self.manifest = check_engine(path, index)
        flavour = flavour_named(self.manifest.flavour)
        trt = flavour.import_module()
        self.module = trt.__name__
        if self.manifest.plugins:
            from effrestore.trt.plugins import register_plugins

            register_plugins()
        self.cuda = _Cuda(resident=path.stat().st_size, device_index=index)  # the plan is mostly weights
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BackendUnavailableError(f"{path}: TensorRT could not deserialise the engine (see its log above)")
        self.device_memory = [
            int(self.engine.get_device_memory_size_for_profile_v2(i)) for i in range(len(self.manifest.profiles))
        ]
        environment = CacheEnvironment(self.cuda.compute_capability, flavour.version() or "", self.cuda.driver_version)
        cache_file = RuntimeCacheFile.for_engine(self.manifest.engine_sha256, environment)
        self.context, self.runtime_cache = flavour.execution_context(trt, self.engine, cache_file)
        self.shapes_run: set[tuple[int, ...]] = set()  # a new shape compiles kernels: the cache is saved after it
        self.profile = -1
        self.lock = threading.Lock()  # one execution context: calls from several threads take turns
        self.context_memory = (0, 0)  # (pointer, size)
        super().__init__(self.manifest.model, device, ModelFile.at(path).digest)

    def memory_tracker(self) -> AllocationTracker:
        """Device memory: the engine plus the context memory and I/O buffers this backend allocates."""
        return self.cuda.tracker

    def tile_sizes(self) -> tuple[int, ...]:
        return tuple(p.max_tile for p in self.manifest.profiles)

    def known_memory(self) -> list[tuple[int, int]]:
        """(pixels, device bytes) per profile: the engine's context memory plus I/O buffers."""
        s, meta = self.meta.scale, self.meta
        probes = []
        for profile, memory in zip(self.manifest.profiles, self.device_memory, strict=True):
            n, _, h, w = profile.max
            io = 4 * n * h * w * (meta.in_channels + meta.out_channels * s * s)
            probes.append((n * h * w, memory + io))
        return probes

    def _select_profile(self, shape: tuple[int, ...]) -> int:
        for index, profile in enumerate(self.manifest.profiles):
            if all(lo <= d <= hi for lo, d, hi in zip(profile.min, shape, profile.max, strict=True)):
                return index
        sizes = ", ".join(str(t) for t in self.tile_sizes())
        raise TileError(f"shape {shape} is outside every profile of this engine; it takes tiles up to {sizes}")

    def _activate(self, index: int) -> None:
        if index == self.profile:
            return
        needed = self.device_memory[index]
        pointer, size = self.context_memory
        if needed > size:
            if pointer:
                self.cuda.free(pointer, size)
            self.context_memory = (self.cuda.malloc(needed), needed)
        self.context.set_device_memory(self.context_memory[0], self.context_memory[1])
        self.context.set_optimization_profile_async(index, self.cuda.handle)
        self.profile = index

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self.lock:
            out = self._execute(batch)
            if batch.shape not in self.shapes_run:
                self.shapes_run.add(batch.shape)
                self.save_runtime_cache()
            return out

    def save_runtime_cache(self) -> None:
        """Writes the kernels compiled so far to the runtime cache file (TensorRT-RTX; nothing otherwise)."""
        if self.runtime_cache is not None:
            self.runtime_cache.save()

    def _release(self) -> None:
        self.save_runtime_cache()

    def max_batch(self) -> int:
        """The largest batch any profile takes (`effrestore build --max-batch`)."""
        return max(profile.max[0] for profile in self.manifest.profiles)

    def close(self) -> None:
        """Saves the runtime cache, frees the context memory and the stream, then drops the engine."""
        with self.lock:
            super().close()
            pointer, size = self.context_memory
            if pointer:
                self.cuda.free(pointer, size)
            self.context_memory = (0, 0)
            self.context = self.engine = None
            self.cuda.destroy()

    def _execute(self, batch: np.ndarray) -> np.ndarray:
        self._activate(self._select_profile(batch.shape))
        s = self.meta.scale
        out = np.empty((batch.shape[0], self.meta.out_channels, batch.shape[2] * s, batch.shape[3] * s), np.float32)
        source, target = self.cuda.malloc(batch.nbytes), self.cuda.malloc(out.nbytes)
        try:
            self.context.set_input_shape(self.manifest.input_name, batch.shape)
            self.context.set_tensor_address(self.manifest.input_name, source)
            self.context.set_tensor_address(self.manifest.output_name, target)
            self.cuda.to_device(source, batch)
            if not self.context.execute_async_v3(self.cuda.handle):
                raise TileError(f"TensorRT failed to run a {batch.shape} batch (see its log above)")
            self.cuda.to_host(out, target)
            self.cuda.synchronize()
        finally:
            self.cuda.free(source, batch.nbytes)
            self.cuda.free(target, out.nbytes)
        return out
