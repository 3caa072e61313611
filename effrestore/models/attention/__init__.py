"""The efficient self-attention families, one file each; every module maps B×C×H×W -> B×C×H×W."""

from effrestore.models.attention._registry import (
    ATTENTION,
    build_attention,
    list_attention,
    register_attention,
)
from effrestore.models.attention.glmha import GLMHA
from effrestore.models.attention.gsa import GSA
from effrestore.models.attention.linear_sa import LinearSA
from effrestore.models.attention.mdta import MDTA
from effrestore.models.attention.none import NoAttention
from effrestore.models.attention.sagan import SAGANAttention
from effrestore.models.attention.stt import STT

__all__ = [
    "ATTENTION",
    "GLMHA",
    "GSA",
    "MDTA",
    "STT",
    "LinearSA",
    "NoAttention",
    "SAGANAttention",
    "build_attention",
    "list_attention",
    "register_attention",
]
