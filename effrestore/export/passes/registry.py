"""The pass registry: each pass module registers its function under a kebab-case name; `apply_passes`
runs them by name, in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import onnx

from effrestore.errors import InternalError, RewriteError

Pass = Callable[[onnx.ModelProto], onnx.ModelProto]
PASSES: dict[str, Pass] = {}


def register_pass(name: str) -> Callable[[Pass], Pass]:
    def add(fn: Pass) -> Pass:
        if name in PASSES:
            raise InternalError(f"rewrite pass {name!r} registered twice")
        PASSES[name] = fn
        return fn

    return add


def get_pass(name: str) -> Pass:
    try:
        return PASSES[name]
    except KeyError:
        raise RewriteError(f"unknown rewrite pass {name!r}; available: {', '.join(sorted(PASSES))}") from None


def apply_passes(model: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    """Applies the passes `names` in order to a copy of `model`."""
    fns = [get_pass(name) for name in names]  # fail on a typo before any work
    result = onnx.ModelProto()
    result.CopyFrom(model)
    for fn in fns:
        result = fn(result)
    return result
