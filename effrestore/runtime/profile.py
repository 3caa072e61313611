"""Per-op-type time of one model call, as the runtime itself reports it: where a model's time goes.

Each backend that has a profiler (OpenVINO's `PERF_COUNT`, ONNX Runtime's session profiler) returns an
`OpProfile`; the op types are the runtime's own names (OpenVINO's `Reorder` and `Subgraph` are its
layout conversions and fused elementwise kernels, not ONNX ops).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# data movement rather than arithmetic: what a layout pass can remove (ONNX Runtime's NCHWc conversions too)
LAYOUT_OPS = frozenset({"Transpose", "Reorder", "ReorderInput", "ReorderOutput", "Split", "Concat"})


@dataclass(frozen=True)
class OpTime:
    op_type: str
    seconds: float  # per call, summed over the op type's nodes
    nodes: int  # how many nodes of this type ran in one call


@dataclass(frozen=True)
class OpProfile:
    backend: str
    precision: str
    ops: tuple[OpTime, ...]  # slowest first

    @classmethod
    def from_samples(cls, backend: str, precision: str, samples: Iterable[tuple[str, float]], calls: int) -> OpProfile:
        """`samples`: (op type, seconds) for every node run in `calls` calls."""
        seconds: dict[str, float] = {}
        counts: dict[str, int] = {}
        for op_type, spent in samples:
            seconds[op_type] = seconds.get(op_type, 0.0) + spent
            counts[op_type] = counts.get(op_type, 0) + 1
        ops = (OpTime(op, seconds[op] / calls, round(counts[op] / calls)) for op in seconds)
        return cls(backend, precision, tuple(sorted(ops, key=lambda op: op.seconds, reverse=True)))

    @property
    def total_seconds(self) -> float:
        return sum(op.seconds for op in self.ops)

    def share(self, op: OpTime) -> float:
        return op.seconds / self.total_seconds if self.total_seconds else 0.0

    @property
    def layout_share(self) -> float:
        """The share of Transpose, Reorder, Split and Concat: time spent moving data, not computing."""
        return sum(self.share(op) for op in self.ops if op.op_type in LAYOUT_OPS)

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "precision": self.precision,
            "seconds_per_call": self.total_seconds,
            "layout_share": self.layout_share,
            "ops": [
                {"op_type": o.op_type, "seconds": o.seconds, "share": self.share(o), "nodes": o.nodes} for o in self.ops
            ],
        }
