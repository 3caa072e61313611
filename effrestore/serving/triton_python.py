"""The model Triton's Python backend runs for a `python`-flavour repository entry (`effrestore triton-repo`).

Each request carries one image `IMAGE` (H×W×C; C = the model's channels, or 4 with alpha carried through;
8- or 16-bit, as the entry's `image_dtype` parameter says) and gets `RESTORED` back in the same type (scaled
for super-resolution models). Tiling and the memory budget are the runtime's, configured by the entry's
parameters. A request that fails gets its own error response; the other requests of the batch are
unaffected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class TritonPythonModel:
    """Triton's Python-backend interface: `initialize(args)`, `execute(requests)`, `finalize()`."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend

        from effrestore.runtime import Restorer

        self.pb_utils = pb_utils
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.image_dtype = np.dtype(parameters.get("image_dtype") or "uint8")
        folder = Path(args["model_repository"]) / args["model_version"]
        self.restorer = Restorer.load(
            folder / "model.onnx",
            device="cuda" if args.get("model_instance_kind") == "GPU" else "cpu",  # auto: OpenVINO on the CPU
            precision=parameters.get("precision") or "auto",
            mem_budget=parameters.get("mem_budget") or None,
            threads=int(parameters.get("threads") or 0) or None,
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                image = self.pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
                if image.dtype != self.image_dtype or image.ndim not in (2, 3):
                    raise ValueError(f"IMAGE must be {self.image_dtype} H×W or H×W×C, got {image.dtype} {image.shape}")
                restored = self.restorer.restore(image)
                tensor = self.pb_utils.Tensor("RESTORED", np.ascontiguousarray(restored))
                responses.append(self.pb_utils.InferenceResponse(output_tensors=[tensor]))
            except Exception as exc:  # one bad request must not fail the others in the batch
                error = self.pb_utils.TritonError(f"effrestore: {exc}")
                responses.append(self.pb_utils.InferenceResponse(output_tensors=[], error=error))
        return responses

    def finalize(self) -> None:
        self.restorer = None
