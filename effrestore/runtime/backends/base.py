"""The backend contract: one `run(batch)` on float32 N×C×H×W tiles, checked in one place."""

from __future__ import annotations

import abc
import sys

import numpy as np

from effrestore.errors import BackendUnavailableError, InternalError, TileError
from effrestore.metadata import ModelMeta
from effrestore.printable import library_message
from effrestore.runtime.memory import MemoryTracker, PeakTracker, return_freed_memory
from effrestore.runtime.profile import OpProfile


class Backend(abc.ABC):
    """Runs a model on batches of tiles. Subclasses implement `_run` and the `open(request)` classmethod the
    registry calls; `run` validates around `_run`. A backend is a context manager: `close` frees what it holds."""

    name: str = ""
    module: str = ""  # the runtime's Python module, whose version keys what was measured with it
    precision: str = "fp32"  # what the arithmetic actually runs in (a backend may not honour a request)
    note: str | None = None  # why the backend runs otherwise than asked (a precision fall-back), for the user

    def __init__(self, meta: ModelMeta, device: str, model_id: str) -> None:
        self.meta = meta
        self.device = device
        self.model_id = model_id  # content hash: keys the memory-fit cache
        self.closed = False
        self._ran: set[tuple[int, ...]] = set()  # input shapes run since the last release

    @property
    def runtime_version(self) -> str:
        """The runtime and its version, e.g. "openvino 2026.4.1": an upgrade changes what a call costs."""
        return f"{self.module} {getattr(sys.modules.get(self.module), '__version__', 'unknown')}"

    def prepare(self, shape: tuple[int, ...]) -> None:  # noqa: B027 (optional hook, nothing to do by default)
        """Gets ready for inputs of `shape` as a first run on a fresh machine would (a backend that compiles per
        shape compiles here, past any compiled-model cache on disk), so the memory it takes is the worst case
        and a timed call measures inference only."""

    def release(self) -> None:
        """Frees per-shape state kept for speed (compiled shapes); the next call rebuilds what it needs. The
        planner calls it after calibrating, so the probes' shapes do not count against the budget."""
        self._ran.clear()
        self._release()

    def _release(self) -> None:  # noqa: B027 (optional hook, nothing to do by default)
        """The runtime's own per-shape state freed."""

    def ready_shapes(self) -> frozenset[tuple[int, ...]]:
        """Input shapes whose next call runs warm, with no startup (compiling, first allocations) to pay:
        those run since the last release. The planner charges a startup only for the others."""
        return frozenset(self._ran)

    def hand_back_memory(self) -> None:
        """`release`, then the freed heap pages returned to the system: the RSS read next is what is held."""
        self.release()
        return_freed_memory()

    def close(self) -> None:
        """Frees what the backend holds (sessions, compiled models, device memory); it runs nothing after.
        Subclasses free their own runtime objects and call this."""
        self.release()
        self.closed = True

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def max_batch(self) -> int | None:
        """The most tiles one call takes (an engine's profiles fix it), or None for any number. On the CPU,
        one: a batch takes as long as its tiles one by one (OpenVINO, 512²: 4 tiles batched 5.70 s, one by
        one 5.84 s) but holds all their memory (a 4K restore under the default budget: 3.69 GiB batched,
        717 MiB one by one, in the same time)."""
        return 1 if self.device == "cpu" else None

    def tile_sizes(self) -> tuple[int, ...] | None:
        """The only tile sizes the model accepts (an engine's profiles), or None for any multiple_of size."""
        return None

    def known_memory(self) -> list[tuple[int, int]] | None:
        """(pixels, peak bytes) measured ahead of time (an engine's manifest), or None: the planner probes."""
        return None

    def memory_tracker(self) -> MemoryTracker:
        """What a memory budget bounds for this backend: the process's peak RSS unless it runs elsewhere."""
        return PeakTracker()

    def op_profile(self, batch: np.ndarray, calls: int) -> OpProfile:
        """Per-op-type time of `calls` warm calls on `batch`, from the runtime's own profiler (a separately
        compiled model or session, so profiling never slows the ordinary calls)."""
        raise BackendUnavailableError(
            f"the {self.name} backend has no per-op profiler; profile with --backends openvino or onnxruntime"
        )

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """float32 N×C_in×H×W -> float32 N×C_out×(s·H)×(s·W)."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.closed:
            raise InternalError(f"{self.name}: the backend was closed")
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1] != self.meta.in_channels:
            raise InternalError(
                f"{self.name}: expected float32 N×{self.meta.in_channels}×H×W, got {batch.dtype} {batch.shape}"
            )
        if batch.shape[2] % self.meta.multiple_of or batch.shape[3] % self.meta.multiple_of:
            raise InternalError(f"{self.name}: tile {batch.shape[2:]} is not a multiple of {self.meta.multiple_of}")
        try:
            out = self._run(np.ascontiguousarray(batch))
        except Exception as exc:  # runtimes raise their own types; an allocation failure is the model's size
            failure = allocation_failure(self.name, batch.shape, exc)
            if failure is None:
                raise
            raise failure from None
        self._ran.add(batch.shape)
        s = self.meta.scale
        expected = (batch.shape[0], self.meta.out_channels, batch.shape[2] * s, batch.shape[3] * s)
        if out.shape != expected:
            raise TileError(
                f"{self.name}: the model returned {out.shape}, expected {expected}; is the metadata "
                "(scale, channels) right for this model?"
            )
        return out


# how runtimes report a failed allocation (C++ std::bad_alloc through OpenVINO, ONNX Runtime's arena)
_ALLOCATION_FAILURES = ("bad_alloc", "Failed to allocate memory", "out of memory")
# the ONNX domain of effrestore's own attention ops, which export can write decomposed instead
CUSTOM_OP_DOMAIN = "effrestore"


def allocation_failure(backend: str, shape: tuple[int, ...], exc: Exception) -> TileError | None:
    """The typed error for a runtime that could not allocate what a call (or compiling for it) asked, or
    None when `exc` is something else."""
    if not isinstance(exc, MemoryError) and not any(marker in str(exc) for marker in _ALLOCATION_FAILURES):
        return None
    return TileError(
        f"{backend}: the model could not allocate its memory for a {shape[0]}×{shape[2]}×{shape[3]} call "
        f"({library_message(exc, 200)}); the model asks for more than this machine has (a node making a huge "
        "tensor?), or the tile is too large: try a smaller --tile or --mem-budget"
    )


def load_failure(exc: BaseException) -> str:
    """Why a runtime cannot load a model, in one line, with the fix where the reason is effrestore's own
    custom ops (only those can be exported decomposed)."""
    message = library_message(exc)
    if f"{CUSTOM_OP_DOMAIN}:" in str(exc) or f"{CUSTOM_OP_DOMAIN}." in str(exc):
        message += " (it holds effrestore custom ops: re-export with --attention-ops decomposed)"
    return message
