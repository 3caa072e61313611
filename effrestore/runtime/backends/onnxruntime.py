"""ONNX Runtime backend: CPU by default; CUDA and TensorRT execution providers when installed.

The CPU arena stays on (it is what makes ONNX Runtime fast: 1.25× at 512² on the shipped model against an
arena-less session), and every run shrinks it afterwards (`memory.enable_memory_arena_shrinkage`), so memory
returns to the system between tiles and a probe measures what one call needs, not what earlier calls left.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import ModelMeta
from effrestore.model_file import ModelFile
from effrestore.runtime.backends.base import Backend, load_failure
from effrestore.runtime.backends.registry import OpenRequest, register_backend
from effrestore.runtime.profile import OpProfile

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def _providers(device: str) -> tuple[list, str]:
    """ORT providers for "cpu", "cuda[:N]" or "tensorrt[:N]" (N: the GPU), and the arenas to shrink."""
    kind, _, index = device.partition(":")
    if kind not in PROVIDERS or (index and (kind == "cpu" or not index.isdigit())):
        raise ConfigError(f"unknown device {device!r} for onnxruntime; choose cpu, cuda[:N] or tensorrt[:N]")
    if kind == "cpu":
        return PROVIDERS[kind], "cpu:0"
    gpu = index or "0"
    providers = [(p, {"device_id": gpu}) if p != "CPUExecutionProvider" else p for p in PROVIDERS[kind]]
    return providers, f"cpu:0;gpu:{gpu}"


FATAL_ONLY = 4  # ONNX Runtime's log level: its errors arrive as exceptions, with our one-line message


def quiet_options(ort: Any) -> Any:
    """Session options under which ONNX Runtime prints nothing itself (its coloured log lines would break
    the one-line error contract); the process-wide logger is quieted the same way."""
    ort.set_default_logger_severity(FATAL_ONLY)
    options = ort.SessionOptions()
    options.log_severity_level = FATAL_ONLY
    return options


@register_backend(
    "onnxruntime",
    kinds=("onnx",),
    devices=("cpu", "cuda", "tensorrt"),
    priority=20,
    requires="onnxruntime",
    install="'onnxruntime': pip install onnxruntime",
)
class OnnxRuntimeBackend(Backend):
    module = "onnxruntime"

    @classmethod
    def open(cls, request: OpenRequest) -> Backend:
        return cls(request.model, request.device or "cpu", request.threads)

    def __init__(
        self, source: ModelFile | Path, device: str = "cpu", threads: int | None = None, meta: ModelMeta | None = None
    ) -> None:
        import onnxruntime as ort

        model = ModelFile.resolve(source, meta=meta)
        path = model.path

        providers, shrink = _providers(device)
        wanted = PROVIDERS[device.partition(":")[0]]
        if wanted[0] not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"ONNX Runtime here has no {wanted[0]} (available: {', '.join(ort.get_available_providers())}); "
                "use --device cpu, or install onnxruntime-gpu"
            )
        self.path, self.providers, self.threads = path, providers, threads
        self.session = self._session()
        self.run_options = ort.RunOptions()
        self.run_options.log_severity_level = FATAL_ONLY
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", shrink)
        self.input_name = self.session.get_inputs()[0].name
        super().__init__(model.meta, device, model.digest)

    def _session(self, profile_prefix: str | None = None) -> Any:
        import onnxruntime as ort

        options = quiet_options(ort)
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        if profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        try:
            return ort.InferenceSession(str(self.path), options, providers=self.providers)
        except Exception as exc:  # ORT raises its own exception classes (Fail, InvalidGraph, ...)
            raise BackendUnavailableError(
                f"{self.path}: ONNX Runtime cannot load this model: {load_failure(exc)}"
            ) from None

    def op_profile(self, batch: np.ndarray, calls: int) -> OpProfile:
        with tempfile.TemporaryDirectory() as folder:
            session = self._session(profile_prefix=str(Path(folder) / "profile"))
            for _ in range(calls + 1):  # the first call pays allocation: left out below
                session.run(None, {self.input_name: batch}, self.run_options)
            events = json.loads(Path(session.end_profiling()).read_text())
        runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")[1:]
        samples = [
            (e["args"]["op_name"], e["dur"] / 1e6)
            for e in events
            if e.get("cat") == "Node"
            and e["name"].endswith("_kernel_time")
            and any(start <= e["ts"] <= end for start, end in runs)
        ]
        return OpProfile.from_samples(self.name, self.precision, samples, len(runs))

    def close(self) -> None:
        super().close()
        self.session = None  # ONNX Runtime frees a session (and its arena) when the last reference goes

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch}, self.run_options)[0]
