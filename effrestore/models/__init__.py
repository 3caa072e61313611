"""Torch side of effrestore: attention families, the Restormer backbone, the registry, checkpoints, costs."""

from effrestore.metadata import ModelMeta
from effrestore.models.attention import ATTENTION, build_attention, list_attention
from effrestore.models.backbones import Restormer, RestormerConfig
from effrestore.models.checkpoints import load_checkpoint, save_checkpoint
from effrestore.models.cost import cost, count_params
from effrestore.models.registry import MODELS, ModelSpec, build_model, list_models, model_config

__all__ = [
    "ATTENTION",
    "MODELS",
    "ModelMeta",
    "ModelSpec",
    "Restormer",
    "RestormerConfig",
    "build_attention",
    "build_model",
    "cost",
    "count_params",
    "list_attention",
    "list_models",
    "load_checkpoint",
    "model_config",
    "save_checkpoint",
]
