"""Name -> attention class registry; each module file registers itself with `@register_attention`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from effrestore.errors import ConfigError, InternalError

ATTENTION: dict[str, type[nn.Module]] = {}

ModuleT = TypeVar("ModuleT", bound=type[nn.Module])


def register_attention(name: str) -> Callable[[ModuleT], ModuleT]:
    """Class decorator adding an attention family under `name`; a duplicate name is a bug."""

    def add(cls: ModuleT) -> ModuleT:
        if name in ATTENTION:
            raise InternalError(f"attention {name!r} is registered twice ({ATTENTION[name]} and {cls})")
        ATTENTION[name] = cls
        cls.kind = name
        return cls

    return add


def build_attention(name: str, dim: int, heads: int = 1, **options: Any) -> nn.Module:
    """Instantiates the attention family `name` for `dim` channels and `heads` heads."""
    try:
        cls = ATTENTION[name]
    except KeyError:
        raise ConfigError(f"unknown attention kind {name!r}; choose one of: {', '.join(sorted(ATTENTION))}") from None
    if heads < 1 or dim % heads:
        raise ConfigError(f"{name}: dim={dim} must be a positive multiple of heads={heads}")
    try:
        return cls(dim, heads, **options)
    except TypeError as exc:
        raise ConfigError(f"{name}: invalid options {sorted(options)}: {exc}") from None


def list_attention() -> list[str]:
    return sorted(ATTENTION)
