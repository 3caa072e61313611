"""The bf16 record a shipped model carries: what bf16 inference costs in validation PSNR against fp32.

`--precision auto` runs bf16 only for a model whose record says it tolerates it (see `runtime.backends.openvino`).
The record is measured with OpenVINO's bf16 kernels, on the model's own validation protocol
(`evaluation.standard_conditions`); it keeps the worst condition's change, so a model that loses
at one noise level is not called tolerant because it gains at another. The record is about numerics (inputs
and weights rounded to bf16, fp32 sums), which OpenVINO also computes on some CPUs without native bf16; the
first-use check on each CPU that runs bf16 still compares it with fp32 there. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from effrestore._atomic import atomic_path
from effrestore.errors import BackendUnavailableError
from effrestore.evaluation import evaluate, standard_conditions
from effrestore.metadata import METADATA_PREFIX

RECORD_KEY = METADATA_PREFIX + "bf16_psnr_delta"
PRECISIONS = ("fp32", "bf16")
TILE = 512  # the same tiles for both precisions (whole validation photos where they fit)


@dataclass(frozen=True)
class Bf16Record:
    """Per-condition PSNR of both precisions, the worst change, and the machine that measured it."""

    fp32_psnr: dict[str, float]
    bf16_psnr: dict[str, float]
    measured_on: str

    @property
    def delta(self) -> float:
        return round(min(self.bf16_psnr[label] - self.fp32_psnr[label] for label in self.fp32_psnr), 3)


def measure_bf16_record(path: Path, images: Sequence[tuple[str, np.ndarray]], threads: int | None = None) -> Bf16Record:
    """Scores the ONNX model at `path` in fp32 and in bf16 (OpenVINO) on `images`."""
    from effrestore.runtime import Restorer
    from effrestore.runtime.backends.openvino import cpu_capabilities, cpu_name, runtime_version

    runs = {
        p: Restorer.load(path, backend="openvino", precision="fp32", tile=TILE, threads=threads) for p in PRECISIONS
    }
    runs["bf16"].backend.use_precision("bf16")  # asked of OpenVINO directly: `auto`'s policy is not the question
    if runs["bf16"].backend.precision != "bf16":
        raise BackendUnavailableError(
            f"{path}: OpenVINO compiles no bf16 kernels on this CPU; measure the record on a CPU with bf16 "
            "(AVX512-BF16 or AMX)"
        )
    conditions = standard_conditions(runs["fp32"].meta.scale)
    methods = {p: (lambda condition, restorer=restorer: restorer.restore) for p, restorer in runs.items()}
    results = evaluate(methods, images, conditions, with_ssim=False)
    scores = {(r.method, r.condition.label): round(r.psnr, 3) for r in results}
    return Bf16Record(
        fp32_psnr={c.label: scores["fp32", c.label] for c in conditions},
        bf16_psnr={c.label: scores["bf16", c.label] for c in conditions},
        measured_on=f"{cpu_name()}, OpenVINO {runtime_version()}"
        + ("" if "BF16" in cpu_capabilities() else " (bf16 kernels on a CPU without native bf16)"),
    )


def write_bf16_record(path: Path, delta: float) -> None:
    """Stores `delta` in the ONNX file's metadata (atomically; the graph is untouched)."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props[RECORD_KEY] = str(delta)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    with atomic_path(path) as partial:
        onnx.save(model, str(partial))
