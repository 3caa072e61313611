"""Serving integrations: a Triton Inference Server model repository from an exported model."""

from effrestore.serving.triton import FLAVORS, write_triton_model

__all__ = ["FLAVORS", "write_triton_model"]
