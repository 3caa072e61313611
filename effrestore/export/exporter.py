"""torch -> ONNX: dynamic batch/height/width, effrestore metadata, custom or decomposed attention,
named rewrite passes, and verified parity with torch before anything is written."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import torch

from effrestore._atomic import check_target
from effrestore.assets import sample_image
from effrestore.errors import ExportError, OnnxModelError, OutputExistsError
from effrestore.export.custom_ops import DOMAIN, register_onnx_schemas, translation_table
from effrestore.export.debug_metadata import strip_debug_metadata
from effrestore.export.passes import apply_passes, get_pass
from effrestore.export.passes._graph import op_histogram
from effrestore.export.verify import Comparison, compare
from effrestore.models.attention._exportable import ExportableAttention
from effrestore.models.backbones import Restormer
from effrestore.onnx_files import PROTOBUF_LIMIT, save_onnx

AttentionOps = Literal["decomposed", "custom"]
MIN_OPSET = 17
FP32_ATOL = 1e-4
FP16_PSNR_MIN = 40.0
# CPU layout first (channel LayerNorm on NCHW, one projection per split part), then any last-axis
# LayerNorm left over (attention internals) fused to the standard op.
DEFAULT_PASSES: dict[str, tuple[str, ...]] = {
    "decomposed": ("nchw-layernorm", "split-projections", "fuse-layernorm"),
    "custom": (),
}


@dataclass
class PassRecord:
    name: str
    nodes_before: int
    nodes_after: int
    ops_before: dict[str, int]
    ops_after: dict[str, int]


@dataclass
class ExportReport:
    """What `export_onnx` produced and how well it matches torch."""

    path: str
    opset: int
    attention_ops: str
    dynamic: bool
    input_shape: list[str | int]
    nodes: int
    ops: dict[str, int]
    custom_ops: list[str]
    passes: list[PassRecord] = field(default_factory=list)
    checks: list[Comparison] = field(default_factory=list)
    verified_on: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@contextlib.contextmanager
def custom_attention_ops(model: torch.nn.Module, enabled: bool) -> Iterator[None]:
    """Routes every exportable attention module of `model` through its custom op while inside."""
    modules = [m for m in model.modules() if isinstance(m, ExportableAttention)]
    for module in modules:
        module.use_custom_op = enabled
    try:
        yield
    finally:
        for module in modules:
            module.use_custom_op = False


def _torch_export(model: Restormer, opset: int, attention_ops: str, static: tuple[int, int] | None) -> onnx.ModelProto:
    meta = model.meta
    shape = (1, meta.in_channels, *static) if static else (2, meta.in_channels, 64, 64)
    dynamic_shapes = None
    if static is None:
        unit = meta.multiple_of
        dynamic_shapes = {
            "image": {
                0: torch.export.Dim("batch", min=1, max=1024),
                2: unit * torch.export.Dim("height", min=1, max=8192 // unit),
                3: unit * torch.export.Dim("width", min=1, max=8192 // unit),
            }
        }
    with warnings.catch_warnings(), custom_attention_ops(model, attention_ops == "custom"):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (torch.rand(shape),),
            dynamo=True,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=dynamic_shapes,
            verbose=False,
            custom_translation_table=translation_table() if attention_ops == "custom" else None,
        )
    return program.model_proto


def _ort_run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def verification_inputs(model: Restormer, static: tuple[int, int] | None) -> list[tuple[str, np.ndarray]]:
    """A random input and a real photo at two sizes (one non-square), all multiples of `multiple_of`."""
    c = model.meta.in_channels
    if static:
        return [
            ("random", np.random.default_rng(0).random((1, c, *static), dtype=np.float32)),
            ("photo", sample_image(c, *static)),
        ]
    return [
        ("random", np.random.default_rng(0).random((1, c, 64, 64), dtype=np.float32)),
        ("photo", sample_image(c, 64, 96)),
        ("photo", sample_image(c, 128, 128)),
    ]


def verify(
    onnx_model: onnx.ModelProto,
    torch_model: Restormer,
    inputs: list[tuple[str, np.ndarray]],
    atol: float | None = FP32_ATOL,
) -> tuple[list[Comparison], str]:
    """ONNX Runtime vs torch on `inputs`; custom ops are decomposed first (ONNX Runtime cannot run them).

    Where the fp32 error exceeds the tolerance, torch in float64 measures how far torch's own float32 result
    is from the exact one, so a numerically sensitive model is judged against its float32 noise."""
    runnable, note = onnx_model, "as exported"
    if any(n.domain == DOMAIN for n in onnx_model.graph.node):
        runnable, note = apply_passes(onnx_model, ["decompose-attention"]), "after decompose-attention"
    checks = []
    torch_model.eval()
    with torch.no_grad():
        for label, x in inputs:
            reference = torch_model(torch.from_numpy(x)).numpy()
            check = compare(label, reference, _ort_run(runnable, x))
            if atol is not None and not check.within(atol):
                check = check.with_float32_noise(reference, _float64_run(torch_model, x))
            checks.append(check)
    return checks, note


def _float64_run(model: Restormer, x: np.ndarray) -> np.ndarray:
    exact = copy.deepcopy(model).double()
    return exact(torch.from_numpy(x).double()).numpy()


def export_onnx(
    model: Restormer,
    path: str | Path,
    *,
    opset: int = 18,
    dynamic: bool = True,
    static_shape: tuple[int, int] | None = None,
    attention_ops: AttentionOps = "decomposed",
    passes: Sequence[str] | None = None,
    verify_parity: bool = True,
    overwrite: bool = False,
    keep_debug_metadata: bool = False,
) -> ExportReport:
    """Exports `model` to `path`; writes nothing unless parity holds, and replaces an existing file only
    with `overwrite`. The exporters' debug metadata (stack traces with this machine's paths) is removed
    unless `keep_debug_metadata` asks for it.

    Parity: fp32 max|Δ| <= 1e-4 vs torch (or, where torch's own float32 error is larger, twice that); with
    the fp16 pass, PSNR >= 40 dB vs the fp32 torch model."""
    started = time.monotonic()
    check_target(Path(path), overwrite=overwrite, error=OnnxModelError, exists=OutputExistsError)
    if opset < MIN_OPSET:
        raise ExportError(
            f"opset {opset} is too old: effrestore needs opset >= {MIN_OPSET} (LayerNormalization); use --opset 18"
        )
    if attention_ops not in DEFAULT_PASSES:
        raise ExportError(f"attention_ops must be 'decomposed' or 'custom', got {attention_ops!r}")
    if static_shape is None and not dynamic:
        raise ExportError("a static export needs static_shape=(height, width)")
    meta = model.meta
    if static_shape and any(s <= 0 or s % meta.multiple_of for s in static_shape):
        raise ExportError(f"static shape {static_shape} must be positive multiples of {meta.multiple_of}")
    names = list(DEFAULT_PASSES[attention_ops] if passes is None else passes)
    for name in names:
        get_pass(name)
    register_onnx_schemas()
    model.eval()
    onnx_model = _torch_export(model, opset, attention_ops, static_shape)
    records = []
    for name in names:
        before = op_histogram(onnx_model)
        onnx_model = apply_passes(onnx_model, [name])
        after = op_histogram(onnx_model)
        records.append(PassRecord(name, sum(before.values()), sum(after.values()), before, after))
    if not keep_debug_metadata:
        strip_debug_metadata(onnx_model)
    props = {**meta.to_props(), "effrestore.attention_ops": attention_ops}
    del onnx_model.metadata_props[:]
    onnx.helper.set_model_props(onnx_model, props)
    onnx.checker.check_model(onnx_model, full_check=onnx_model.ByteSize() < PROTOBUF_LIMIT)
    checks, note = [], "not verified"
    if verify_parity:
        half = "fp16" in names
        checks, note = verify(onnx_model, model, verification_inputs(model, static_shape), None if half else FP32_ATOL)
        failed = [c for c in checks if not c.within(None if half else FP32_ATOL, FP16_PSNR_MIN if half else None)]
        if failed:
            limit = f"PSNR >= {FP16_PSNR_MIN} dB" if half else f"max abs error <= {FP32_ATOL:g}"
            raise ExportError(
                f"ONNX Runtime disagrees with torch ({limit} required): "
                + "; ".join(map(str, failed))
                + f". Nothing was written to {path}. Try --attention-ops decomposed or fewer --passes."
            )
    save_onnx(onnx_model, path, overwrite=overwrite)
    ops = op_histogram(onnx_model)
    dims = onnx_model.graph.input[0].type.tensor_type.shape.dim
    return ExportReport(
        path=str(path),
        opset=opset,
        attention_ops=attention_ops,
        dynamic=static_shape is None,
        input_shape=[d.dim_param or d.dim_value for d in dims],
        nodes=sum(ops.values()),
        ops=ops,
        custom_ops=sorted({n.op_type for n in onnx_model.graph.node if n.domain == DOMAIN}),
        passes=records,
        checks=checks,
        verified_on=note,
        metadata=props,
        seconds=round(time.monotonic() - started, 1),
    )


__all__ = ["ExportReport", "PassRecord", "custom_attention_ops", "export_onnx"]
