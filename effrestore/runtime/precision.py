"""CPU precision policy: when bf16 runs, and the first-use check that it agrees with fp32 on this machine.

bf16 roughly halves the arithmetic on CPUs that run it natively, but its accuracy is a property of the
model *and* the CPU's kernels (OpenVINO's bf16 MatMul differs between CPUs with AMX and those with only
AVX512-BF16, and has produced corrupted output on some). So `auto` takes bf16 only when (1) the CPU runs it
natively, (2) the model carries a bf16 record (`ModelMeta.bf16_psnr_delta`, measured on validation images
when the model was shipped) within `BF16_TOLERANCE_DB`, and (3) on this CPU and OpenVINO version, bf16
output agrees with fp32 on a probe tile; the verdict is cached like the memory fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from effrestore.assets import sample_image
from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.metadata import ModelMeta
from effrestore.runtime.backends.base import Backend
from effrestore.runtime.cache import BadEntry, CacheFile, number

PRECISIONS = ("auto", "fp32", "bf16")
BF16_TOLERANCE_DB = 0.05  # largest validation-PSNR loss of bf16 against fp32 that `auto` accepts
AGREEMENT_DB = 40.0  # PSNR of the bf16 output against the fp32 output on the probe tile
PROBE_SIDE = 128
PROBE_SIGMA = 25 / 255


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "fp32" or "bf16": what to compile
    note: str | None = None  # why a request was not followed, for the user


def check_request(requested: str, backend: str) -> None:
    """Refuses an unknown precision, and bf16 on a backend that runs fp32 only."""
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}; choose {', '.join(PRECISIONS)}")
    if requested == "bf16" and backend != "openvino":
        raise ConfigError(f"--precision bf16 runs on the openvino backend, not {backend}; use --backend openvino")


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
    if not np.isfinite(candidate).all():
        return 0.0
    mse = float(np.mean((reference.astype(np.float64) - candidate.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


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
