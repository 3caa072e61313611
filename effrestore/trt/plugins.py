"""TensorRT plugins for the `effrestore::*` attention ops, via TensorRT's Python plugin API
(`tensorrt.plugin`, TensorRT >= 10.7).

Each plugin's kernel is the attention family's own `functional` (the maths the torch module and the
ONNX decomposition share) run by torch on the CUDA stream TensorRT hands over, so plugin and model cannot
drift apart. The plugin signature is derived from the family's `weight_names` and `attribute_names`.
Models exported with `--attention-ops decomposed` contain no such nodes and need none of this.
"""

from __future__ import annotations

import inspect
from typing import Any

from effrestore._lazy import require
from effrestore.trt.manifest import Plugin

_registered: list[Plugin] = []


def register_plugins() -> list[Plugin]:
    """Registers every family's plugin once per process; returns what is registered."""
    if _registered:
        return list(_registered)
    trtp = require("tensorrt.plugin", "the effrestore TensorRT plugins (TensorRT >= 10.7)")
    torch = require("torch", "the effrestore TensorRT plugins' kernels")
    from effrestore.export.custom_ops import PLUGIN_NAMESPACE, PLUGIN_VERSION, exportable_families

    for family in exportable_families().values():
        _register(trtp, torch, family, f"{PLUGIN_NAMESPACE}::{family.op_name}")
        _registered.append(Plugin(family.op_name, PLUGIN_NAMESPACE, PLUGIN_VERSION))
    return list(_registered)


def _signature(tensor_type: Any, tensors: list[str], attributes: list[str], tail: list[inspect.Parameter],
               returns: Any) -> inspect.Signature:  # fmt: skip
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, kind, annotation=tensor_type) for name in tensors]
    parameters += [inspect.Parameter(name, kind, annotation=int) for name in attributes]
    return inspect.Signature(parameters + tail, return_annotation=returns)


def _register(trtp: Any, torch: Any, family: Any, plugin_id: str) -> None:
    tensors, attributes = ["x", *family.weight_names], list(family.attribute_names)

    def describe(*args: Any, **kwargs: Any) -> Any:
        return (args[0] if args else kwargs["x"]).like()  # attention maps B×C×H×W to the same shape

    describe.__signature__ = _signature(trtp.TensorDesc, tensors, attributes, [], trtp.TensorDesc)  # type: ignore[attr-defined]
    describe.__annotations__ = {**{n: trtp.TensorDesc for n in tensors}, **{a: int for a in attributes},
                                "return": trtp.TensorDesc}  # fmt: skip
    trtp.register(plugin_id)(describe)

    def implement(*args: Any, **kwargs: Any) -> None:
        bound = dict(zip([*tensors, *attributes, "outputs", "stream"], args, strict=False)) | kwargs
        inputs = [torch.as_tensor(bound[name], device="cuda") for name in tensors]
        with torch.cuda.stream(torch.cuda.ExternalStream(bound["stream"])):
            result = family.functional(*inputs, **{a: int(bound[a]) for a in attributes})
            torch.as_tensor(bound["outputs"][0], device="cuda").copy_(result)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    tail = [
        inspect.Parameter("outputs", kind, annotation=tuple[trtp.Tensor]),
        inspect.Parameter("stream", kind, annotation=int),
    ]
    implement.__signature__ = _signature(trtp.Tensor, tensors, attributes, tail, None)  # type: ignore[attr-defined]
    trtp.impl(plugin_id)(implement)
