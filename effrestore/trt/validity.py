"""TensorRT for RTX's own verdict on a plan header (`Runtime.get_engine_validity`), decoded into reasons a
user can act on. It reads only the header, so it answers before anything is deserialised: a stale engine
gets the rebuild advice instead of a deserialisation failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# What each `EngineInvalidityDiagnostics` bit means for the user, and the way out.
CAUSES = {
    "VERSION_MISMATCH": "it was built with another TensorRT-RTX version (rebuild it with the one installed here)",
    "UNSUPPORTED_CC": "it was not built for this GPU's compute capability (rebuild it, naming this GPU's in "
    "--compute-capability)",
    "OLD_CUDA_DRIVER": "the NVIDIA driver is older than the engine needs (update the driver)",
    "OLD_CUDA_RUNTIME": "the CUDA runtime is older than the engine needs (update CUDA)",
    "INSUFFICIENT_GPU_MEMORY": "the GPU has too little free memory for it (free GPU memory or use a smaller GPU "
    "profile)",
    "MALFORMED_ENGINE": "the plan is malformed (a damaged copy, or not an engine: copy or build it again)",
    "CUDA_ERROR": "CUDA failed during the check (is the NVIDIA driver loaded? nvidia-smi should list the GPU)",
}


def decode_validity(trt: Any, validity: Any, diagnostics: int) -> tuple[list[str], list[str]]:
    """(problems, notes) for a `get_engine_validity` answer: INVALID is a problem, SUBOPTIMAL a note."""
    flags = trt.EngineInvalidityDiagnostics
    causes = [text for name, text in CAUSES.items() if diagnostics & int(getattr(flags, name))]
    known = 0
    for member in flags.__members__.values():
        known |= int(member)
    if diagnostics & ~known:
        causes.append(f"diagnostic bits {diagnostics & ~known:#x}, which this effrestore does not know")
    if validity == trt.EngineValidity.VALID:
        return [], []
    if validity == trt.EngineValidity.SUBOPTIMAL:
        return [], ["TensorRT-RTX expects it to run, but slower here: " + ("; ".join(causes) or "no reason given")]
    reasons = "; ".join(causes) or "no reason given (CUDA may be unusable on this machine)"
    return [f"TensorRT-RTX's validity check says it cannot run here: {reasons}"], []


def engine_validity(trt: Any, plan: Path) -> tuple[list[str], list[str]]:
    """(problems, notes) from the installed TensorRT-RTX's check of the header of the plan at `plan`."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    with plan.open("rb") as handle:
        head = handle.read(int(runtime.engine_header_size))
    validity, diagnostics = runtime.get_engine_validity(head)
    return decode_validity(trt, validity, int(diagnostics))
