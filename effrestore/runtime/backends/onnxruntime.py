"""ONNX Runtime backend: CPU by default; CUDA and TensorRT execution providers when installed.

Session options favour low peak memory (no CPU arena, no memory-pattern pre-allocation): the planner's
measured numbers then hold for every tile size, and memory returns to the system between tiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import METADATA_PREFIX, ModelMeta
from effrestore.runtime.backends.base import Backend, file_digest

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def read_onnx_meta(session) -> ModelMeta | None:  # type: ignore[no-untyped-def]
    props = dict(session.get_modelmeta().custom_metadata_map)
    if not any(key.startswith(METADATA_PREFIX) for key in props):
        return None
    return ModelMeta.from_props(props)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None, meta: ModelMeta | None = None):
        import onnxruntime as ort

        if device not in PROVIDERS:
            raise ConfigError(f"unknown device {device!r} for onnxruntime; choose cpu, cuda or tensorrt")
        wanted = PROVIDERS[device]
        if wanted[0] not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"ONNX Runtime here has no {wanted[0]} (available: {', '.join(ort.get_available_providers())}); "
                "use --device cpu, or install onnxruntime-gpu"
            )
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=wanted)
        except Exception as exc:  # ORT raises its own exception classes (Fail, InvalidGraph, ...)
            first = str(exc).splitlines()[0]
            hint = (
                " (it holds effrestore custom ops: re-export with --attention-ops decomposed)"
                if "effrestore" in str(exc)
                else ""
            )
            raise BackendUnavailableError(f"{path}: ONNX Runtime cannot load this model: {first}{hint}") from None
        found = read_onnx_meta(self.session)
        if meta is None and found is None:
            raise ConfigError(
                f"{path}: the model has no effrestore.* metadata (scale, channels, multiple_of); export it with "
                "`effrestore export`, or pass meta=ModelMeta(...) to Restorer.load"
            )
        self.input_name = self.session.get_inputs()[0].name
        super().__init__(meta or found, device, file_digest(path))  # type: ignore[arg-type]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
