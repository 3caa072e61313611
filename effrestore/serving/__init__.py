"""Serving integrations: a Triton Inference Server model repository from an exported model."""

from effrestore.serving.triton import TRITON_FLAVOURS, write_triton_model

__all__ = ["TRITON_FLAVOURS", "write_triton_model"]
