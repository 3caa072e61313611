"""OpenVINO backend: the exported ONNX file compiled for the CPU, one compiled model per input shape.

OpenVINO's CPU plugin is the fastest engine for these networks on x86 CPUs (about 2× ONNX Runtime's old
arena-less session at 256²-512², at under half its peak memory). Static shapes compile to faster code than
a dynamic profile, and a tiled run uses one or two shapes (full tiles, a smaller last batch), so the few
most recent compiled models are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import ModelMeta
from effrestore.printable import library_message
from effrestore.runtime.backends.base import Backend, allocation_failure, file_digest, load_failure, onnx_meta

KEPT_SHAPES = 3
HINTS = {"fp32": "f32", "bf16": "bf16"}


def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's optimisation capabilities of this CPU, e.g. ('FP32', 'BF16', 'INT8')."""
    import openvino as ov

    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def cpu_name() -> str:
    import openvino as ov

    return str(ov.Core().get_property("CPU", "FULL_DEVICE_NAME"))


def runtime_version() -> str:
    import openvino as ov

    return str(ov.get_version())


class OpenVinoBackend(Backend):
    name = "openvino"
    module = "openvino"

    def __init__(
        self,
        path: Path,
        device: str = "cpu",
        threads: int | None = None,
        meta: ModelMeta | None = None,
        precision: str = "fp32",
    ) -> None:
        import openvino as ov

        if device != "cpu":
            raise ConfigError(f"the openvino backend runs on the CPU, not {device!r}; use --backend onnxruntime")
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
            raise BackendUnavailableError(f"{path}: OpenVINO cannot load this model: {load_failure(exc)}") from None
        self.input_name = self.model.inputs[0].get_any_name()
        self.config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()  # an infer request serves one call at a time
        super().__init__(onnx_meta(path, self._framework_props(), meta), device, file_digest(path))
        self.use_precision(precision)

    def use_precision(self, precision: str) -> None:
        """Compiles from now on for `precision` ("fp32" or "bf16"); `self.precision` says what OpenVINO
        actually chose, which is not always the hint (f32 on CPUs without bf16 kernels, bf16 kernels on some CPUs
        without native bf16)."""
        if precision not in HINTS:
            raise ConfigError(f"unknown precision {precision!r} for openvino; choose {', '.join(HINTS)}")
        import openvino as ov

        with self._lock:
            self.config["INFERENCE_PRECISION_HINT"] = HINTS[precision]
            self._compiled.clear()
            compiled = self._request((1, self.meta.in_channels, 64, 64)).get_compiled_model()
            chosen = compiled.get_property("INFERENCE_PRECISION_HINT")
            self._compiled.clear()  # compiled only to ask: a shape is compiled when a call needs it
        self.precision = "bf16" if chosen == ov.Type.bf16 else "fp32"

    def _framework_props(self) -> dict[str, str]:
        """The ONNX file's metadata_props, which OpenVINO keeps under rt_info['framework']."""
        info = self.model.get_rt_info()
        if "framework" not in info:
            return {}
        framework = info["framework"]
        return {key: framework[key].astype(str) for key in framework}

    def _request(self, shape: tuple[int, ...]) -> Any:
        """The infer request compiled for `shape`, compiling it (and dropping the oldest) when new."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        model = self.model.clone()
        model.reshape({self.input_name: list(shape)})
        try:
            request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        except Exception as exc:  # OpenVINO raises RuntimeError with its source location first
            failure = allocation_failure(self.name, shape, exc)
            raise failure or BackendUnavailableError(
                f"OpenVINO cannot compile this model for {shape}: {library_message(exc)}"
            ) from None
        self._compiled[shape] = request
        while len(self._compiled) > KEPT_SHAPES:
            self._compiled.popitem(last=False)
        return request

    def prepare(self, shape: tuple[int, ...]) -> None:
        with self._lock:
            self._request(tuple(shape))

    def release(self) -> None:
        with self._lock:
            self._compiled.clear()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            request = self._request(batch.shape)
            request.infer({0: batch})
            return request.get_output_tensor(0).data.copy()
