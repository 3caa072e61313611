"""OpenVINO backend: the exported ONNX file compiled for the CPU, one compiled model per input shape.

OpenVINO's CPU plugin is the fastest engine for these networks on x86 CPUs (about 2× ONNX Runtime's old
arena-less session at 256²-512², at under half its peak memory). Static shapes compile to faster code than
a dynamic profile, and a tiled run uses one or two shapes (full tiles, a smaller last batch), so the few
most recent compiled models are kept. Compiled models are also kept on disk (OpenVINO's model cache, under
the cache root): a later run of the same model and shape imports one in about a third of the compile time.
OpenVINO never evicts from that folder, so it is pruned to `COMPILE_CACHE_BYTES`, oldest first.

Precision: bf16 roughly halves the arithmetic on CPUs that run it natively, but its accuracy is a property of
the model *and* the CPU's kernels (OpenVINO's bf16 MatMul differs between CPUs with AMX and those with only
AVX512-BF16, and has produced corrupted output on some). So `auto` takes bf16 only when (1) the CPU runs it
natively, (2) the model carries a bf16 record (`ModelMeta.bf16_psnr_delta`, measured on validation images
when the model was shipped) within `BF16_TOLERANCE_DB`, and (3) on this CPU and OpenVINO version, bf16
output agrees with fp32 on a probe tile; the verdict is cached like the memory fit.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from effrestore.assets import sample_image
from effrestore.cache_root import cache_root
from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import ModelMeta
from effrestore.model_file import ModelFile
from effrestore.printable import library_message
from effrestore.quality import psnr
from effrestore.runtime.backends.base import Backend, allocation_failure, load_failure
from effrestore.runtime.backends.registry import OpenRequest, register_backend
from effrestore.runtime.cache import BadEntry, CacheFile, number
from effrestore.runtime.profile import OpProfile

KEPT_SHAPES = 3
HINTS = {"fp32": "f32", "bf16": "bf16"}
BF16_TOLERANCE_DB = 0.05  # largest validation-PSNR loss of bf16 against fp32 that `auto` accepts
AGREEMENT_DB = 40.0  # PSNR of the bf16 output against the fp32 output on the probe tile
PROBE_SIDE = 128
PROBE_SIGMA = 25 / 255
COMPILE_CACHE_BYTES = 256 * 2**20  # a compiled shape of a shipped model takes a few MiB


def compile_cache_dir() -> Path | None:
    """The folder of OpenVINO's compiled-model cache, or None where it cannot be written (then no cache)."""
    folder = cache_root("openvino")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def prune_compile_cache(folder: Path, limit: int = COMPILE_CACHE_BYTES) -> None:
    """Deletes the oldest compiled models until the folder holds at most `limit` bytes (another process may
    be deleting too, so a file that is already gone is not an error)."""
    entries = []
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            stat = path.stat()
            entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            path.unlink()
        total -= size


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


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "fp32" or "bf16": what to compile
    note: str | None = None  # why a request was not followed, for the user


def choose_precision(requested: str, meta: ModelMeta, capabilities: tuple[str, ...]) -> PrecisionChoice:
    """What the OpenVINO backend compiles for a checked `--precision` request, given the CPU's capabilities."""
    native = "BF16" in capabilities
    if requested == "fp32":
        return PrecisionChoice("fp32")
    if requested == "bf16":
        if not native:
            raise BackendUnavailableError(
                f"this CPU has no native bf16 (OpenVINO reports {', '.join(capabilities) or 'nothing'}); "
                "use --precision fp32 or auto"
            )
        if meta.bf16_psnr_delta is None:
            return PrecisionChoice("bf16", "the model has no bf16 record; running bf16 as asked")
        return PrecisionChoice("bf16")
    if not native:
        return PrecisionChoice("fp32")
    if meta.bf16_psnr_delta is None:
        return PrecisionChoice("fp32", "fp32: the model has no bf16 record (ship it with one to allow bf16)")
    if meta.bf16_psnr_delta < -BF16_TOLERANCE_DB:
        return PrecisionChoice("fp32", f"fp32: bf16 cost this model {-meta.bf16_psnr_delta:.2f} dB on validation")
    return PrecisionChoice("bf16")


def probe_tile(channels: int) -> np.ndarray:
    """A noisy real photo crop: what a denoiser sees, with a fixed seed so every check is the same."""
    clean = sample_image(channels, PROBE_SIDE, PROBE_SIDE)
    noise = np.random.default_rng(0).normal(0, PROBE_SIGMA, clean.shape).astype(np.float32)
    return clean + noise


def agreement_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR (dB, peak 1) of `candidate` against `reference`; inf when equal, 0 for non-finite output."""
    return psnr(reference, candidate, peak=1.0) if np.isfinite(candidate).all() else 0.0


def _parse_verdict(entry: dict) -> tuple[bool, float]:
    """A cached verdict: whether bf16 agreed, and the agreement in dB (inf when the outputs were equal)."""
    agrees = entry["agrees"]
    if not isinstance(agrees, bool):
        raise BadEntry(f"agrees must be true or false, got {agrees!r}")
    return agrees, number(entry["psnr_db"], 0.0, float("inf"), "psnr_db")


VERDICTS = CacheFile("precision-checks.json", _parse_verdict)


def bf16_agrees(bf16: Backend, fp32: Callable[[], Backend], key: str) -> tuple[bool, float]:
    """Whether `bf16` matches an fp32 run of the same model on the probe tile, and the agreement in dB.
    The verdict is cached under `key` (model × CPU × runtime version); `fp32` opens the reference only
    when the check has to run."""
    cached = VERDICTS.get(key)
    if cached is not None:
        return cached
    tile = probe_tile(bf16.meta.in_channels)
    score = agreement_db(fp32().run(tile), bf16.run(tile))
    bf16.hand_back_memory()  # the probe tile's compiled shape and the reference are garbage now
    agrees = score >= AGREEMENT_DB
    VERDICTS.put(key, {"agrees": agrees, "psnr_db": score})
    return agrees, score


@register_backend(
    "openvino",
    kinds=("onnx",),
    devices=("cpu",),
    precisions=("fp32", "bf16"),
    priority=30,  # about 2× ONNX Runtime on the shipped models on the CPU
    requires="openvino",
    install="'openvino': pip install openvino, or use --backend onnxruntime",
)
class OpenVinoBackend(Backend):
    module = "openvino"

    @classmethod
    def open(cls, request: OpenRequest) -> Backend:
        """OpenVINO at the precision the policy allows, bf16 only after it agreed with fp32 on this machine."""
        model, device, threads = request.model, request.device or "cpu", request.threads
        opened = cls(model, device, threads)
        choice = choose_precision(request.precision, opened.meta, cpu_capabilities())
        opened.note = choice.note
        if choice.precision == "fp32":
            return opened
        opened.use_precision("bf16")
        if opened.precision != "bf16":
            opened.note = "OpenVINO compiled fp32: this CPU does not run bf16 for this model"
            return opened
        key = f"{opened.model_id}:{cpu_name()}:openvino {runtime_version()}"
        agrees, score = bf16_agrees(opened, lambda: cls(model, device, threads), key)
        if not agrees:
            opened.use_precision("fp32")
            opened.note = (
                f"bf16 disagreed with fp32 on this CPU ({score:.1f} dB on the probe tile, under "
                f"{AGREEMENT_DB:.0f} dB); running fp32"
            )
        return opened

    def __init__(
        self,
        source: ModelFile | Path,
        device: str = "cpu",
        threads: int | None = None,
        meta: ModelMeta | None = None,
        precision: str = "fp32",
    ) -> None:
        import openvino as ov

        model = ModelFile.resolve(source, meta=meta)
        path = model.path

        if device != "cpu":
            raise ConfigError(f"the openvino backend runs on the CPU, not {device!r}; use --backend onnxruntime")
        self.core = ov.Core()
        try:
            self.model = self.core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
            raise BackendUnavailableError(f"{path}: OpenVINO cannot load this model: {load_failure(exc)}") from None
        self.input_name = self.model.inputs[0].get_any_name()
        self.config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        cache_dir = compile_cache_dir()
        if cache_dir is not None:
            self.config["CACHE_DIR"] = str(cache_dir)
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()  # an infer request serves one call at a time
        super().__init__(model.meta, device, model.digest)
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

    def _compile(self, shape: tuple[int, ...], config: dict[str, Any]) -> Any:
        """An infer request for `shape` compiled with `config` (not kept)."""
        model = self.model.clone()
        model.reshape({self.input_name: list(shape)})
        request = self.core.compile_model(model, "CPU", config).create_infer_request()
        if "CACHE_DIR" in config:
            prune_compile_cache(Path(config["CACHE_DIR"]))
        return request

    @property
    def uncached_config(self) -> dict[str, Any]:
        """The compile options without the disk cache: a compile that pays what a fresh machine pays (the
        planner's memory probes) or that must really compile (profiling counters)."""
        return {key: value for key, value in self.config.items() if key != "CACHE_DIR"}

    def _request(self, shape: tuple[int, ...], config: dict[str, Any] | None = None) -> Any:
        """The infer request compiled for `shape` (with `config`, default `self.config`), compiling it (and
        dropping the oldest) when new."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        try:
            request = self._compile(shape, config or self.config)
        except Exception as exc:  # OpenVINO raises RuntimeError with its source location first
            failure = allocation_failure(self.name, shape, exc)
            raise failure or BackendUnavailableError(
                f"OpenVINO cannot compile this model for {shape}: {library_message(exc)}"
            ) from None
        self._compiled[shape] = request
        while len(self._compiled) > KEPT_SHAPES:
            self._compiled.popitem(last=False)
        return request

    def op_profile(self, batch: np.ndarray, calls: int) -> OpProfile:
        import openvino as ov

        request = self._compile(batch.shape, {**self.uncached_config, "PERF_COUNT": True})
        request.infer({0: batch})  # the first call pays allocation and first-touch costs
        samples = []
        executed = ov.ProfilingInfo.Status.EXECUTED
        for _ in range(calls):
            request.infer({0: batch})
            samples += [
                (i.node_type, i.real_time.total_seconds()) for i in request.profiling_info if i.status == executed
            ]
        return OpProfile.from_samples(self.name, self.precision, samples, calls)

    def prepare(self, shape: tuple[int, ...]) -> None:
        with self._lock:
            self._request(tuple(shape), self.uncached_config)

    def _release(self) -> None:
        with self._lock:
            self._compiled.clear()

    def ready_shapes(self) -> frozenset[tuple[int, ...]]:
        """The shapes compiled and kept (the oldest are dropped past `KEPT_SHAPES`)."""
        with self._lock:
            return frozenset(self._compiled)

    def close(self) -> None:
        super().close()
        self.model = None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            request = self._request(batch.shape)
            request.infer({0: batch})
            return request.get_output_tensor(0).data.copy()
