"""Backbones hosting the attention families."""

from effrestore.models.backbones.restormer import MULTIPLE_OF, Restormer, RestormerConfig

__all__ = ["MULTIPLE_OF", "Restormer", "RestormerConfig"]
