"""Typed errors. Every user-facing failure is an `EffrestoreError`; our own bugs raise `InternalError`."""


class EffrestoreError(Exception):
    """A problem with what the user asked for or supplied; the message says what and how to fix it."""


class ConfigError(EffrestoreError, ValueError):
    """An unknown model/attention name or an invalid hyper-parameter."""


class ModelMetadataError(EffrestoreError, ValueError):
    """A model's `effrestore.*` metadata with a field of the wrong type or out of range; names the field."""


class CheckpointError(EffrestoreError):
    """A checkpoint file that cannot be read or does not match the model it describes."""


class InternalError(Exception):
    """A bug in effrestore (not an `EffrestoreError`: it keeps its traceback)."""


class DependencyError(EffrestoreError):
    """An optional dependency (torch, onnx, tensorrt...) is missing; the message gives the pip command."""


class ExportError(EffrestoreError):
    """Export refused or failed: unsupported option, opset too old, or parity verification failed."""


class RewriteError(EffrestoreError):
    """An unknown rewrite pass, or a pass that cannot apply to this graph."""


class OnnxModelError(EffrestoreError):
    """An ONNX file that cannot be loaded safely (corrupt, or external data outside its folder)."""


class ImageError(EffrestoreError):
    """An image that cannot be read or written (corrupt, unsupported, too large, output exists)."""


class OutputExistsError(EffrestoreError):
    """An output file that exists (or appeared while it was being written) and may not be replaced."""


class BackendUnavailableError(EffrestoreError):
    """The requested backend or device cannot run here; the message names what to use instead."""


class MemoryBudgetError(EffrestoreError):
    """The memory budget cannot be met; the message names the smallest budget that would work. `needed` and
    `budget` (bytes, where known) let a caller word its own advice."""

    def __init__(self, message: str, *, needed: int | None = None, budget: int | None = None) -> None:
        super().__init__(message)
        self.needed, self.budget = needed, budget


class TileError(EffrestoreError):
    """A tile failed; the run stops (no tile is skipped or reused) and the message names the tile."""


class EngineError(EffrestoreError):
    """A TensorRT engine, manifest or build request that cannot be used here; the message says what to run."""
