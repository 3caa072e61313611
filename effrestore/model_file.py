"""What a model file is: one suffix → kind table, one resolver for "a path or a shipped name", and the facts
every command asks of a file (metadata, I/O names, content hash) read once, through the safe loaders.

Torch-free: the runtime, `inspect`, `build` and serving use it without torch installed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from effrestore.errors import ConfigError
from effrestore.metadata import METADATA_PREFIX, ModelMeta

Kind = Literal["onnx", "engine", "checkpoint"]
SUFFIX_KINDS: dict[str, Kind] = {
    ".onnx": "onnx",
    ".plan": "engine",
    ".engine": "engine",
    ".safetensors": "checkpoint",
    ".pth": "checkpoint",
    ".pt": "checkpoint",
    ".ckpt": "checkpoint",
}
KIND_NAMES: dict[Kind, str] = {"onnx": "ONNX models", "engine": "TensorRT engines", "checkpoint": "checkpoints"}


def suffixes_of(kind: Kind) -> list[str]:
    """The suffixes of one kind, e.g. [".plan", ".engine"]."""
    return [suffix for suffix, known in SUFFIX_KINDS.items() if known == kind]


def kind_of(path: str | os.PathLike[str]) -> Kind | None:
    """The kind a file's suffix names, or None for a suffix no model has."""
    return SUFFIX_KINDS.get(Path(path).suffix.lower())


@dataclass(eq=False)
class ModelFile:
    """A model file and its kind; its facts are read when first asked and kept."""

    path: Path
    kind: Kind
    _given_meta: ModelMeta | None = field(default=None, repr=False)

    @classmethod
    def at(cls, path: str | os.PathLike[str], meta: ModelMeta | None = None) -> ModelFile:
        """The model file at `path` (which must exist and carry a model suffix); `meta` overrides what the
        file says about itself (for ONNX files exported elsewhere)."""
        path = Path(path)
        kind = kind_of(path)
        if kind is None:
            raise ConfigError(
                f"{path}: not a model file; effrestore runs {', '.join(SUFFIX_KINDS)} files or a shipped model name"
            )
        if not path.is_file():
            raise ConfigError(f"{path}: no such model file")
        return cls(path, kind, meta)

    @classmethod
    def resolve(
        cls, source: str | os.PathLike[str] | ModelFile, *, prefer: Kind = "onnx", meta: ModelMeta | None = None
    ) -> ModelFile:
        """A path, or the name of a shipped model (its `prefer` file: the ONNX model, or the checkpoint for
        commands that need the network itself)."""
        if isinstance(source, ModelFile):
            return source
        path = Path(source)
        if path.exists() or kind_of(path) is not None or os.sep in str(source):
            return cls.at(path, meta)
        from effrestore.zoo import require_entry

        entry = require_entry(str(source))
        return cls.at(entry.checkpoint if prefer == "checkpoint" else entry.onnx, meta)

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()

    @cached_property
    def sha256(self) -> str:
        """The file's content hash (hex), streamed: keys every cache of what was measured with this model."""
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    @property
    def digest(self) -> str:
        """The short form of `sha256` the caches key on."""
        return self.sha256[:16]

    def proto(self, *, with_weights: bool = True) -> Any:
        """The ONNX ModelProto through the safe loader (external data only from inside the model's folder),
        parsed once: treat it as read-only."""
        return self._loaded if with_weights else self._checked[0]

    @cached_property
    def _loaded(self) -> Any:
        from effrestore.onnx_files import load_onnx

        self._require("onnx")
        return load_onnx(self.path)

    @cached_property
    def _checked(self) -> tuple[Any, list[str]]:
        """The ONNX graph without its weights, and its external data locations, each checked to lie inside
        the model's folder (before any runtime reads the file)."""
        from effrestore.onnx_files import read_checked

        self._require("onnx")
        return read_checked(self.path)

    @property
    def external_data(self) -> list[str]:
        """The checked external data files, relative to the model's folder (what must travel with it)."""
        return sorted(set(self._checked[1]))

    @property
    def _graph(self) -> Any:
        return self._checked[0]

    @cached_property
    def props(self) -> dict[str, str]:
        """The `effrestore.*` properties of an ONNX file."""
        return {p.key: p.value for p in self._graph.metadata_props if p.key.startswith(METADATA_PREFIX)}

    @cached_property
    def manifest(self) -> Any:
        """An engine's manifest (checked; the engine itself is not read)."""
        self._require("engine")
        from effrestore.trt.manifest import read_manifest

        return read_manifest(self.path)

    @cached_property
    def meta(self) -> ModelMeta:
        """The model contract: given, or from the ONNX properties, the engine manifest or the checkpoint."""
        if self._given_meta is not None:
            return self._given_meta
        if self.kind == "engine":
            return self.manifest.model
        if self.kind == "checkpoint":  # the network is built to know its contract: torch is needed
            from effrestore.models.checkpoints import load_checkpoint

            return load_checkpoint(self.path).meta
        if not self.props:
            raise ConfigError(
                f"{self.path}: the model has no effrestore.* metadata (scale, channels, multiple_of); export it "
                "with `effrestore export`, or pass meta=ModelMeta(...) to Restorer.load"
            )
        return ModelMeta.from_props(self.props, self.path)

    @cached_property
    def io_names(self) -> tuple[str, str]:
        """(input, output) tensor names."""
        if self.kind == "engine":
            return self.manifest.input_name, self.manifest.output_name
        self._require("onnx")
        graph = self._graph.graph
        initializers = {t.name for t in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in initializers]
        return inputs[0], graph.output[0].name

    @cached_property
    def plugins(self) -> tuple[Any, ...]:
        """The TensorRT plugins the model needs (`trt.manifest.Plugin`: its effrestore custom-op nodes, or what
        the engine was built with), sorted by name."""
        from effrestore.trt.manifest import Plugin
        from effrestore.trt.onnx_support import PLUGIN_DOMAIN

        if self.kind == "engine":
            return tuple(self.manifest.plugins)
        found = {
            Plugin(node.op_type, _string_attribute(node, "plugin_namespace"), _string_attribute(node, "plugin_version"))
            for node in self._graph.graph.node
            if node.domain == PLUGIN_DOMAIN
        }
        return tuple(sorted(found, key=lambda plugin: plugin.name))

    def _require(self, kind: Kind) -> None:
        if self.kind != kind:
            raise ConfigError(f"{self.path}: expected one of the {KIND_NAMES[kind]}, got a {self.kind} file")


def _string_attribute(node: Any, name: str) -> str:
    for attribute in node.attribute:
        if attribute.name == name:
            return attribute.s.decode()
    raise ConfigError(f"node {node.name} ({node.op_type}) lacks the {name!r} attribute; re-export the model")
