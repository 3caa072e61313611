"""TensorRT refuses a network with any tensor of 2³¹ elements or more (NVIDIA/TensorRT#4408: super-resolution
builds fail at 2560², SCUNet at 8192²). The largest intermediate of a profile's max shape is predicted from
ONNX Runtime runs at three small sizes, every intermediate an output: each tensor's element count is
fitted as c + a·P + b·P² in the pixels P = H·W (convolution features grow with P, spatial attention maps
with P²), so a profile whose largest tensor would pass the limit is dropped before the build, with the
reason, instead of failing it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from effrestore.errors import EngineError
from effrestore.model_file import ModelFile
from effrestore.trt.profiles import Profile

TENSOR_LIMIT = 2**31 - 1
FIT_SIDES = (32, 48, 64)  # rounded up to the model's multiple_of
Log = Callable[[str], None]


def largest_tensor(file: ModelFile) -> Callable[[int, int, int], int]:
    """elements(batch, height, width) -> the predicted element count of the model's largest tensor."""
    import onnx
    import onnxruntime as ort

    meta = file.meta
    model = onnx.ModelProto()
    model.CopyFrom(file.proto())  # through the safe loader; the copy gets every intermediate as an output
    known = {value.name for value in model.graph.output}
    for node in model.graph.node:
        model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in node.output if name and name not in known)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    sides = [-(-side // meta.multiple_of) * meta.multiple_of for side in FIT_SIDES]
    pixels = np.array([side * side for side in sides], np.float64)
    counts = []
    for side in sides:
        batch = np.zeros((1, meta.in_channels, side, side), np.float32)
        counts.append([np.size(out) for out in session.run(None, {session.get_inputs()[0].name: batch})])
    coefficients = np.linalg.solve(np.vander(pixels, 3, increasing=True), np.array(counts, np.float64))

    def elements(batch: int, height: int, width: int) -> int:
        p = float(height * width)
        return round(batch * float(np.max(coefficients[0] + coefficients[1] * p + coefficients[2] * p * p)))

    return elements


def within_limit(profiles: Sequence[Profile], model: ModelFile, log: Log) -> list[Profile]:
    """The profiles whose largest tensor TensorRT accepts; each dropped one is logged with its size."""
    try:
        elements = largest_tensor(model)
    except Exception as exc:  # a model ONNX Runtime cannot run (custom ops): TensorRT's own check remains
        log(f"cannot predict tensor sizes in ONNX Runtime ({type(exc).__name__}); profiles not checked against 2³¹")
        return list(profiles)
    kept = []
    for profile in profiles:
        largest = elements(*(profile.max[i] for i in (0, 2, 3)))
        if largest > TENSOR_LIMIT:
            log(
                f"dropped the profile up to {profile.max_tile}²: its largest tensor would hold {largest:,} elements, "
                "over TensorRT's limit of 2³¹ (NVIDIA/TensorRT#4408)"
            )
        else:
            kept.append(profile)
    if not kept:
        raise EngineError(
            "every profile has a tensor over TensorRT's limit of 2³¹ elements (NVIDIA/TensorRT#4408); build "
            "with smaller tiles (--tiles)"
        )
    return kept
