"""The `effrestore::<Name>` ONNX ops: schemas (so `onnx.checker` and shape inference work past them) and
the onnxscript translations the torch exporter uses to emit one node per attention block.

TensorRT matches a plugin by op name + `plugin_namespace` + `plugin_version`; every node carries both.
The nodes are plain nodes, never ONNX local functions (TensorRT would inline a function instead of
calling the plugin).
"""

from __future__ import annotations

import onnx
import onnx.defs
from onnxscript import FLOAT, script
from onnxscript.values import Opset

from effrestore.errors import InternalError
from effrestore.models.attention import ATTENTION
from effrestore.models.attention._exportable import NAMESPACE, ExportableAttention

DOMAIN = NAMESPACE
PLUGIN_NAMESPACE = "effrestore"
PLUGIN_VERSION = "1"
OPSET_VERSION = 1
EFFRESTORE = Opset(DOMAIN, OPSET_VERSION)


def exportable_families() -> dict[str, type[ExportableAttention]]:
    """op name -> attention class, for every family that has a custom op."""
    return {cls.op_name: cls for cls in ATTENTION.values() if issubclass(cls, ExportableAttention)}


def _same_type_and_shape_as_input(ctx: onnx.shape_inference.InferenceContext) -> None:
    ctx.set_output_type(0, ctx.get_input_type(0))


def _schema(cls: type[ExportableAttention]) -> onnx.defs.OpSchema:
    param = onnx.defs.OpSchema.FormalParameter
    attr = onnx.defs.OpSchema.Attribute
    kinds = onnx.defs.OpSchema.AttrType
    schema = onnx.defs.OpSchema(
        cls.op_name,
        DOMAIN,
        OPSET_VERSION,
        doc=(cls.__doc__ or "").strip(),
        inputs=[param(name, "T") for name in ("x", *cls.weight_names)],
        outputs=[param("y", "T")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"], "float tensors")],
        attributes=[attr(name, kinds.INT, "hyper-parameter") for name in cls.attribute_names]
        + [
            attr("plugin_namespace", kinds.STRING, "TensorRT plugin namespace"),
            attr("plugin_version", kinds.STRING, "TensorRT plugin version"),
        ],
    )
    schema.set_type_and_shape_inference_function(_same_type_and_shape_as_input)
    return schema


def register_onnx_schemas() -> None:
    """Registers the schemas once per process (idempotent)."""
    for name, cls in exportable_families().items():
        if not onnx.defs.has(name, DOMAIN):
            onnx.defs.register_schema(_schema(cls))


# Script-mode translations (a plain Python function fails in the exporter with "No schema registered").
# The return annotation tells the exporter the node has one output.
@script(EFFRESTORE)
def _linear_sa(x: FLOAT, f: FLOAT, g: FLOAT, h: FLOAT, gamma: FLOAT, heads: int) -> FLOAT:
    y = EFFRESTORE.LinearSA(x, f, g, h, gamma, heads=heads, plugin_namespace="effrestore", plugin_version="1")
    return y


@script(EFFRESTORE)
def _mdta(x: FLOAT, qkv: FLOAT, qkv_dwconv: FLOAT, project_out: FLOAT, temperature: FLOAT, heads: int) -> FLOAT:
    y = EFFRESTORE.MDTA(
        x,
        qkv,
        qkv_dwconv,
        project_out,
        temperature,
        heads=heads,
        plugin_namespace="effrestore",
        plugin_version="1",
    )
    return y


@script(EFFRESTORE)
def _glmha(
    x: FLOAT,
    q: FLOAT,
    q_dwconv: FLOAT,
    kv: FLOAT,
    kv_dwconv: FLOAT,
    guide_in: FLOAT,
    guide_in_bias: FLOAT,
    guide_out: FLOAT,
    guide_out_bias: FLOAT,
    project_out: FLOAT,
    temperature: FLOAT,
    heads: int,
    rank: int,
) -> FLOAT:
    y = EFFRESTORE.GLMHA(
        x,
        q,
        q_dwconv,
        kv,
        kv_dwconv,
        guide_in,
        guide_in_bias,
        guide_out,
        guide_out_bias,
        project_out,
        temperature,
        heads=heads,
        rank=rank,
        plugin_namespace="effrestore",
        plugin_version="1",
    )
    return y


@script(EFFRESTORE)
def _gsa(
    x: FLOAT,
    qkv: FLOAT,
    rel_col: FLOAT,
    rel_row: FLOAT,
    bn_scale: FLOAT,
    bn_shift: FLOAT,
    project_out: FLOAT,
    heads: int,
    extent: int,
) -> FLOAT:
    y = EFFRESTORE.GSA(
        x,
        qkv,
        rel_col,
        rel_row,
        bn_scale,
        bn_shift,
        project_out,
        heads=heads,
        extent=extent,
        plugin_namespace="effrestore",
        plugin_version="1",
    )
    return y


@script(EFFRESTORE)
def _stt(
    x: FLOAT,
    v: FLOAT,
    synth_in: FLOAT,
    synth_in_bias: FLOAT,
    synth_out: FLOAT,
    synth_out_bias: FLOAT,
    r_h: FLOAT,
    r_w: FLOAT,
    project_out: FLOAT,
    heads: int,
    window: int,
    factor_rank: int,
) -> FLOAT:
    y = EFFRESTORE.STT(
        x,
        v,
        synth_in,
        synth_in_bias,
        synth_out,
        synth_out_bias,
        r_h,
        r_w,
        project_out,
        heads=heads,
        window=window,
        factor_rank=factor_rank,
        plugin_namespace="effrestore",
        plugin_version="1",
    )
    return y


TRANSLATIONS = {"LinearSA": _linear_sa, "MDTA": _mdta, "GLMHA": _glmha, "GSA": _gsa, "STT": _stt}


def translation_table() -> dict:
    """torch op overload -> onnxscript translation, for `torch.onnx.export(custom_translation_table=...)`."""
    import torch

    register_onnx_schemas()
    missing = set(exportable_families()) - set(TRANSLATIONS)
    if missing:
        raise InternalError(f"no ONNX translation for custom op(s) {sorted(missing)}")
    return {getattr(torch.ops.effrestore, name).default: fn for name, fn in TRANSLATIONS.items()}
