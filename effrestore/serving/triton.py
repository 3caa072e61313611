"""Writes a Triton Inference Server model repository entry for an effrestore ONNX model.

Two flavours:
- `python`: Triton's Python backend runs `effrestore.serving.triton_python`, which takes whole 8-bit images
  (H×W×C) and restores them with `Restorer` — tiling and the memory budget happen in the server, clients send
  images as they are. Needs `pip install effrestore` in the Python environment Triton's Python backend uses.
- `onnx`: Triton's ONNX Runtime backend runs the network itself on N×C×H×W float32 tensors (dynamic batching
  of equal-sized tiles); the client pads to `multiple_of` and tiles. The effrestore metadata is in the
  config's parameters so a client can read it from Triton's model-config endpoint.

The entry is written to a temporary folder beside the repository (on its file system) and renamed into
place, so Triton's repository poller never sees a half-written model, and an interrupted write leaves
nothing in the repository (Triton loads every folder there, hidden ones too, as a model).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from effrestore.errors import ConfigError
from effrestore.metadata import ModelMeta
from effrestore.model_file import ModelFile
from effrestore.runtime.options import check_strength, check_threads, parse_budget

if TYPE_CHECKING:
    from effrestore.trt.manifest import EngineManifest

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # Triton hangs loading a name with a space

TRITON_FLAVOURS = ("python", "onnx", "tensorrt")
IMAGE_DTYPES = ("uint8", "uint16")  # what the python flavour's IMAGE/RESTORED carry (8- or 16-bit images)
PYTHON_MODEL = '''"""Written by `effrestore triton-repo`: the Python backend runs effrestore.serving.triton_python."""

from effrestore.serving.triton_python import TritonPythonModel  # noqa: F401
'''


class Constant(str):
    """An enum value in config.pbtxt (TYPE_FP32, KIND_CPU): written bare, where strings are quoted."""


def _text(value: object, indent: int = 0) -> str:
    """A value in protobuf text format (the syntax of config.pbtxt): dicts are messages, lists repeated."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, list) and item and isinstance(item[0], dict):
                body = ",\n".join(f"{pad}  {{\n{_text(entry, indent + 2)}\n{pad}  }}" for entry in item)
                lines.append(f"{pad}{key} [\n{body}\n{pad}]")
            elif isinstance(item, dict):
                lines.append(f"{pad}{key} {{\n{_text(item, indent + 1)}\n{pad}}}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return "\n".join(lines)
    raise TypeError(f"not a message: {value!r}")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[ " + ", ".join(_scalar(v) for v in value) + " ]"
    if isinstance(value, Constant):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def _parameters(values: dict[str, str]) -> list[dict]:
    return [{"key": key, "value": {"string_value": value}} for key, value in values.items()]


def model_config(
    name: str,
    meta: ModelMeta,
    flavour: str,
    *,
    io_names: tuple[str, str] = ("input", "output"),
    instances: int = 1,
    gpu: bool = False,
    max_batch: int = 8,
    mem_budget: str | None = None,
    threads: int | None = None,
    image_dtype: str = "uint8",
    strength: float = 1.0,
    python_env: Path | None = None,
    engine: EngineManifest | None = None,
) -> str:
    """config.pbtxt for one model (Triton's ModelConfig protobuf in text format); `python_env` is the
    environment the python flavour runs in (Triton's EXECUTION_ENV_PATH); `engine` the manifest of a
    TensorRT engine being served (its instances are GPU instances)."""
    gpu = gpu or engine is not None
    instance_group = [{"count": instances, "kind": Constant("KIND_GPU") if gpu else Constant("KIND_CPU")}]
    if instances < 1:
        raise ConfigError(f"--instances must be at least 1, got {instances}")
    parse_budget(mem_budget)
    check_threads(threads)
    check_strength(strength)
    described = {
        "effrestore.task": meta.task,
        "effrestore.scale": str(meta.scale),
        "effrestore.multiple_of": str(meta.multiple_of),
        "effrestore.overlap": str(meta.overlap),
        "effrestore.receptive_field": "" if meta.receptive_field is None else str(meta.receptive_field),
        "effrestore.tiling": meta.tiling,
        "effrestore.value_range": json.dumps(list(meta.value_range)),
        "effrestore.in_channels": str(meta.in_channels),
        "effrestore.out_channels": str(meta.out_channels),
    }
    if flavour == "python":
        if image_dtype not in IMAGE_DTYPES:
            raise ConfigError(f"--image-dtype must be {' or '.join(IMAGE_DTYPES)}, got {image_dtype!r}")
        runtime = {
            "mem_budget": mem_budget or "",
            "threads": str(threads or 0),
            "image_dtype": image_dtype,
            "strength": f"{strength:g}",
        }
        if python_env is not None:
            runtime["EXECUTION_ENV_PATH"] = str(python_env)
        image_type = Constant(f"TYPE_{image_dtype.upper()}")
        config = {
            "name": name,
            "backend": "python",
            "max_batch_size": 0,
            "input": [{"name": "IMAGE", "data_type": image_type, "dims": [-1, -1, -1]}],
            "output": [{"name": "RESTORED", "data_type": image_type, "dims": [-1, -1, -1]}],
            "instance_group": instance_group,
            "parameters": _parameters({**runtime, **described}),
        }
    elif flavour == "onnx":
        if max_batch < 1:
            raise ConfigError("--max-batch must be at least 1 for the onnx flavour (Triton batches tiles)")
        config = {
            "name": name,
            "platform": "onnxruntime_onnx",
            "max_batch_size": max_batch,
            "input": [{"name": io_names[0], "data_type": Constant("TYPE_FP32"), "dims": [meta.in_channels, -1, -1]}],
            "output": [{"name": io_names[1], "data_type": Constant("TYPE_FP32"), "dims": [meta.out_channels, -1, -1]}],
            "dynamic_batching": {"max_queue_delay_microseconds": 2000},
            "instance_group": instance_group,
            "parameters": _parameters(described),
        }
    elif flavour == "tensorrt":
        config = _engine_config(name, engine, instance_group, described)
    else:
        raise ConfigError(f"unknown flavour {flavour!r}; choose {', '.join(TRITON_FLAVOURS)}")
    if engine is not None and flavour == "onnx":
        raise ConfigError("a TensorRT engine is served with --flavour tensorrt or python, not onnx")
    return _text(config) + "\n"


def _engine_config(name: str, engine: EngineManifest | None, instance_group: list, described: dict) -> dict:
    """Triton's TensorRT backend on a standard TensorRT engine: its tensors, profiles, version and GPUs
    from the engine's manifest."""
    if engine is None:
        raise ConfigError("--flavour tensorrt serves a TensorRT engine: pass a .plan from `effrestore build`")
    if engine.flavour != "tensorrt":
        raise ConfigError(
            f"Triton's TensorRT backend runs standard TensorRT engines; this is a {engine.flavour} "
            f"{engine.tensorrt_version} engine: serve it with --flavour python (effrestore's TensorRT backend runs it)"
        )
    meta = engine.model
    profiles = [{"min": list(p.min), "opt": list(p.opt), "max": list(p.max)} for p in engine.profiles]
    built = {
        "effrestore.tensorrt_flavour": engine.flavour,
        "effrestore.tensorrt_version": engine.tensorrt_version,
        "effrestore.compute_capabilities": ",".join(engine.compute_capabilities),
        "effrestore.precision": engine.precision,
        "effrestore.profiles": json.dumps(profiles),
    }
    fp32 = Constant("TYPE_FP32")
    return {
        "name": name,
        "platform": "tensorrt_plan",
        "max_batch_size": 0,  # explicit-batch engine: the batch is the first of the dims
        "input": [{"name": engine.input_name, "data_type": fp32, "dims": [-1, meta.in_channels, -1, -1]}],
        "output": [{"name": engine.output_name, "data_type": fp32, "dims": [-1, meta.out_channels, -1, -1]}],
        "instance_group": instance_group,
        "parameters": _parameters({**described, **built}),
    }


def write_triton_model(
    source: ModelFile | Path | str,
    repository: Path,
    name: str,
    flavour: str = "python",
    *,
    overwrite: bool = False,
    **options: object,
) -> Path:
    """Writes `repository/name/{config.pbtxt, 1/model.onnx[, its external data] or 1/model.plan[.json],
    [1/model.py]}` for an ONNX model or engine (a path or a shipped model's name) atomically; returns the
    folder."""
    model = ModelFile.resolve(source)
    if model.kind == "checkpoint":
        command = shlex.join(["effrestore", "export", str(model.path), "-o", "m.onnx"])
        raise ConfigError(f"{model.path}: Triton serves ONNX or TensorRT engines; export it first with `{command}`")
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"model name {name!r} must be letters, digits, '_', '.' or '-' (starting with a letter or digit, at most "
            "128); pass --name"
        )
    config, files = _entry(model, name, flavour, options)
    repository.mkdir(parents=True, exist_ok=True)
    target = repository / name
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} already exists; pass --overwrite to replace it")
    beside = _staging_folder(repository)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=beside))
    try:
        (staging / "1").mkdir()
        for relative, source in files.items():
            (staging / "1" / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / "1" / relative)
        if flavour == "python":
            (staging / "1" / "model.py").write_text(PYTHON_MODEL)
        (staging / "config.pbtxt").write_text(config)
        os.chmod(staging, 0o755)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=beside))
            os.replace(target, retired / name)
            os.replace(staging, target)
            shutil.rmtree(retired)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _entry(model: ModelFile, name: str, flavour: str, options: dict) -> tuple[str, dict[str, Path]]:
    """The config and the version folder's files (name there -> source) for an ONNX model or an engine."""
    if model.kind == "engine":
        from effrestore.trt.manifest import manifest_path

        config = model_config(name, model.meta, flavour, engine=model.manifest, **options)
        return config, {"model.plan": model.path, "model.plan.json": manifest_path(model.path)}
    config = model_config(name, model.meta, flavour, io_names=model.io_names, **options)
    files = {"model.onnx": model.path}
    for location in model.external_data:  # a model over 2 GB keeps its weights beside it
        files[location] = model.path.parent / location
    return config, files


def _staging_folder(repository: Path) -> Path:
    """Where an entry is assembled: beside the repository when that is on the same file system (a rename
    is then atomic and an interrupted write leaves nothing Triton loads), else inside it (a repository that
    is a mount point)."""
    parent = repository.resolve().parent
    try:
        same = os.stat(parent).st_dev == os.stat(repository).st_dev and os.access(parent, os.W_OK)
    except OSError:
        same = False
    return parent if same else repository
