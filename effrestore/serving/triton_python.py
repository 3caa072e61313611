"""The model Triton's Python backend runs for a `python`-flavour repository entry (`effrestore triton-repo`).

Each request carries one image `IMAGE` (H×W×C, gray as H×W×1; C = the model's channels, or with alpha
carried through; 8- or 16-bit, as the entry's `image_dtype` parameter says) and gets `RESTORED` back in
the same type (scaled for super-resolution models). Tiling and the memory budget are the runtime's,
configured by the entry's parameters. A request that fails gets its own error response (a client's mistake
as INVALID_ARG: HTTP 400, gRPC INVALID_ARGUMENT); the other requests of the batch are unaffected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from effrestore.errors import ConfigError, EffrestoreError, ImageError, MemoryBudgetError

CHECK_SIDE = 64  # the image restored to prove an entry's budget can be met


def prove_budget(restorer: Any, dtype: type | np.dtype = np.uint8) -> None:
    """Restores a small image under the restorer's budget: a budget no request could meet fails here (when
    the entry is written, and when the model loads) instead of in every request."""
    restorer.restore(np.zeros((CHECK_SIDE, CHECK_SIDE, restorer.meta.in_channels), dtype))


def check_numpy(allowed: bool) -> None:
    """Triton 2.51's Python backend (the nvidia-pytriton 0.7 bundle) answers every request with an empty
    tensor and a success status when numpy 2 is installed in its environment: refuse to load instead."""
    if int(np.__version__.split(".")[0]) >= 2 and not allowed:
        raise ConfigError(
            f"numpy {np.__version__} is installed in the Python backend's environment; Triton 2.51's Python "
            "backend (bundled by nvidia-pytriton 0.7) returns empty responses with numpy 2: install numpy<2 "
            "there (pip install 'numpy<2'), or set the entry's parameter allow_numpy2 to \"true\" on a Triton "
            "whose Python backend is built for numpy 2"
        )


class TritonPythonModel:
    """Triton's Python-backend interface: `initialize(args)`, `execute(requests)`, `finalize()`."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend

        from effrestore.runtime import Restorer

        self.pb_utils = pb_utils
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        check_numpy(parameters.get("allow_numpy2") == "true")
        self.image_dtype = np.dtype(parameters.get("image_dtype") or "uint8")
        folder = Path(args["model_repository"]) / args["model_version"]
        gpu = args.get("model_instance_kind") == "GPU"
        model = folder / "model.plan" if (folder / "model.plan").exists() else folder / "model.onnx"
        self.restorer = Restorer.load(
            model,
            device=f"cuda:{args.get('model_instance_device_id') or 0}" if gpu else "cpu",
            precision=parameters.get("precision") or "auto",
            mem_budget=parameters.get("mem_budget") or None,
            threads=int(parameters.get("threads") or 0) or None,
            strength=float(parameters.get("strength") or 1),
        )
        prove_budget(self.restorer, self.image_dtype)

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                image = self.pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
                if image.dtype != self.image_dtype or image.ndim != 3:
                    raise ImageError(
                        f"IMAGE must be {self.image_dtype} H×W×C (gray as H×W×1), got {image.dtype} {image.shape}"
                    )
                restored = self.restorer.restore(image, strength=_request_strength(request))
                tensor = self.pb_utils.Tensor("RESTORED", np.ascontiguousarray(restored))
                responses.append(self.pb_utils.InferenceResponse(output_tensors=[tensor]))
            except Exception as exc:  # one bad request must not fail the others in the batch
                responses.append(self.pb_utils.InferenceResponse(output_tensors=[], error=self._error(exc)))
        return responses

    def _error(self, exc: Exception) -> Any:
        """The client's mistakes (the image, its options, an image larger than the entry's memory budget
        holds) as INVALID_ARG; the server's own failures as INTERNAL."""
        error = self.pb_utils.TritonError
        client = isinstance(exc, (ImageError, ConfigError, MemoryBudgetError))
        code = error.INVALID_ARG if client else error.INTERNAL
        kind = "" if isinstance(exc, EffrestoreError) else f"{type(exc).__name__}: "
        return error(f"effrestore: {kind}{exc}", code)

    def finalize(self) -> None:
        self.restorer = None


def _request_strength(request: Any) -> float | None:
    """A request's own `strength` parameter (Triton request parameters), else None: the entry's."""
    value = json.loads(request.parameters() or "{}").get("strength")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"the strength parameter must be a number in [0, 1], got {value!r}") from None
    return value
