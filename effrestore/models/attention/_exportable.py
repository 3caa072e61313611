"""Attention families that export either as standard ops or as one `effrestore::<Name>` custom op.

Each family writes its maths once, as `functional(x, *weights, **attributes)`. The eager forward calls it
directly; with `use_custom_op` set (by the exporter, per instance) the forward calls the registered torch
custom op instead, whose kernel is the same function, so the exported graph holds a single node. The
`decompose-attention` pass exports the same function back to standard ONNX ops.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch
from torch import nn

NAMESPACE = "effrestore"


class ExportableAttention(nn.Module, metaclass=abc.ABCMeta):
    """Base class: subclasses set the class variables and implement `weights` and `functional`."""

    op_name: ClassVar[str]
    weight_names: ClassVar[tuple[str, ...]]
    attribute_names: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        super().__init__()
        self.use_custom_op = False

    @abc.abstractmethod
    def weights(self) -> tuple[torch.Tensor, ...]:
        """The tensors `functional` needs, in `weight_names` order."""

    def attributes(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in self.attribute_names}

    @staticmethod
    @abc.abstractmethod
    def functional(x: torch.Tensor, *weights: torch.Tensor, **attributes: int) -> torch.Tensor:
        """The family's maths on raw tensors (B×C×H×W in, B×C×H×W out)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_custom_op:
            op = getattr(getattr(torch.ops, NAMESPACE), self.op_name)
            return op(x, *self.weights(), **self.attributes())
        return self.functional(x, *self.weights(), **self.attributes())


def op_schema(cls: type[ExportableAttention]) -> str:
    """The torch.library schema of `cls`'s custom op."""
    tensors = ", ".join(f"Tensor {name}" for name in ("x", *cls.weight_names))
    ints = ", ".join(f"int {name}" for name in cls.attribute_names)
    return f"({tensors}, {ints}) -> Tensor"


_LIBRARY = torch.library.Library(NAMESPACE, "DEF")


def register_custom_op(cls: type[ExportableAttention]) -> type[ExportableAttention]:
    """Class decorator: defines `effrestore::<op_name>` with `functional` as kernel and a shape-only fake."""
    _LIBRARY.define(cls.op_name + op_schema(cls))
    count = len(cls.weight_names)

    def kernel(x: torch.Tensor, *args: object) -> torch.Tensor:
        weights, values = args[:count], args[count:]
        return cls.functional(x, *weights, **dict(zip(cls.attribute_names, values, strict=True)))  # type: ignore[arg-type]

    _LIBRARY.impl(cls.op_name, kernel, "CompositeExplicitAutograd")
    torch.library.register_fake(f"{NAMESPACE}::{cls.op_name}", lib=_LIBRARY)(lambda x, *_: torch.empty_like(x))
    return cls
