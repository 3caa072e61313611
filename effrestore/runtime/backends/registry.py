"""The backend registry: each backend file registers itself with what it runs (file kinds, devices,
precisions) and how much it is preferred; `auto` and every refusal are answered from these registrations.

A new backend is one file: a `Backend` subclass with an `open` classmethod, decorated with
`@register_backend(...)`, and its module named in `backends/__init__.py`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from effrestore.errors import BackendUnavailableError, ConfigError
from effrestore.model_file import KIND_NAMES, Kind, ModelFile

if TYPE_CHECKING:
    from effrestore.runtime.backends.base import Backend

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class OpenRequest:
    """What the caller asked of a backend: the model file and the options that reach every backend."""

    model: ModelFile
    device: str | None  # None: the backend's own default device
    threads: int | None
    precision: str  # "auto", "fp32" or "bf16"


@dataclass(frozen=True)
class BackendSpec:
    name: str
    kinds: tuple[Kind, ...]  # the model files it runs
    devices: tuple[str, ...]  # device families: "cpu", "cuda", "tensorrt" (a device "cuda:1" is family "cuda")
    precisions: tuple[str, ...]  # what `--precision` may ask of it besides auto
    priority: int  # `auto` takes the highest-priority installed backend that runs the file on the device
    requires: str | None  # the Python module it needs, to tell whether it is installed (None: `open` checks)
    install: str  # how to install it, for the error when it is not
    open: Callable[[OpenRequest], Backend]
    wrong_kind: Callable[[ModelFile], str]  # the way out when asked to run a file of another kind

    @property
    def installed(self) -> bool:
        if self.requires is None:
            return True
        try:
            return importlib.util.find_spec(self.requires) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (blocked)
            return False

    def runs(self, kind: Kind, device: str | None) -> bool:
        return kind in self.kinds and (device is None or device.partition(":")[0] in self.devices)


BACKENDS: dict[str, BackendSpec] = {}
B = TypeVar("B", bound="type[Backend]")


def register_backend(
    name: str,
    *,
    kinds: tuple[Kind, ...],
    devices: tuple[str, ...],
    requires: str | None,
    install: str = "",
    precisions: tuple[str, ...] = ("fp32",),
    priority: int = 0,
    wrong_kind: Callable[[ModelFile], str] | None = None,
) -> Callable[[B], B]:
    """Registers the decorated `Backend` subclass (its `open(request)` classmethod opens it) under `name`."""

    def default_wrong_kind(model: ModelFile) -> str:
        runs = " and ".join(KIND_NAMES[kind] for kind in kinds)
        return f"the {name} backend runs {runs}; export the model with `effrestore export`"

    def decorate(backend: B) -> B:
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} registered twice")
        opens, refusal = backend.open, wrong_kind or default_wrong_kind
        BACKENDS[name] = BackendSpec(name, kinds, devices, precisions, priority, requires, install, opens, refusal)
        backend.name = name
        return backend

    return decorate


def backend_names() -> tuple[str, ...]:
    """What `--backend` accepts: auto, then the registered backends."""
    return ("auto", *BACKENDS)


def choose_backend(kind: Kind, device: str | None) -> BackendSpec:
    """`auto`: the highest-priority installed backend that runs `kind` on `device`; when none is installed,
    the highest-priority one that would (opening it says what to install)."""
    able = sorted((spec for spec in BACKENDS.values() if spec.runs(kind, device)), key=lambda s: -s.priority)
    if not able:
        where = f" on {device}" if device else ""
        raise ConfigError(f"no backend runs {KIND_NAMES[kind]}{where}; choose from {', '.join(backend_names())}")
    return next((spec for spec in able if spec.installed), able[0])


def open_backend(
    source: ModelFile | str, backend: str = "auto", device: str | None = None, threads: int | None = None,
    precision: str = "auto",
) -> Backend:  # fmt: skip
    """The backend for a model file, checked against its registration before anything is loaded (each
    backend checks the device it is given itself, with its own way out)."""
    model = ModelFile.resolve(source)
    if backend != "auto" and backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(backend_names())}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    spec = choose_backend(model.kind, device) if backend == "auto" else BACKENDS[backend]
    if precision != "auto" and precision not in spec.precisions:
        able = [s.name for s in BACKENDS.values() if precision in s.precisions]
        raise ConfigError(
            f"--precision {precision} runs on the {' or '.join(able)} backend, not {spec.name}; use --backend {able[0]}"
        )
    if model.kind not in spec.kinds:
        raise ConfigError(f"{model.path}: {spec.wrong_kind(model)}")
    if model.kind == "onnx":
        model.external_data  # noqa: B018 (refuses data outside the model's folder before any runtime reads it)
    if not spec.installed:
        raise BackendUnavailableError(f"the {spec.name} backend needs the Python package {spec.install}")
    return spec.open(OpenRequest(model, device, threads, precision))
