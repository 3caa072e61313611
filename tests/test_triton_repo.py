"""`effrestore triton-repo`: the repository entry is written through the CLI, its config.pbtxt parses against
Triton's ModelConfig schema (the subset of model_config.proto it uses: same field names, types and enums),
the onnx-flavour model runs batched in ONNX Runtime, and the Python-backend model restores images.

No Triton server runs here: the Python-backend model is driven through a stand-in for Triton's
`triton_python_backend_utils` module that implements the four calls its documentation defines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from effrestore.errors import ConfigError
from effrestore.runtime import Restorer
from effrestore.zoo import require_entry

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "astronaut-noisy25.png"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "effrestore", *args], capture_output=True, text=True, timeout=300)


def model_config_class() -> type:
    """ModelConfig with the fields config.pbtxt files written here use, as model_config.proto declares them."""
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="model_config_subset.proto", package="inference", syntax="proto3")
    data_type = proto.enum_type.add(name="DataType")
    for number, name in ((0, "TYPE_INVALID"), (2, "TYPE_UINT8"), (3, "TYPE_UINT16"), (11, "TYPE_FP32")):
        data_type.value.add(name=name, number=number)

    def message(name: str, fields: list[tuple[str, int, int, str | None, bool]]) -> descriptor_pb2.DescriptorProto:
        described = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
            field = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
        return described

    group = message("ModelInstanceGroup", [("count", 2, F.TYPE_INT32, None, False)])
    group.field.add(name="kind", number=4, type=F.TYPE_ENUM, type_name=".inference.ModelInstanceGroup.Kind")
    kind = group.enum_type.add(name="Kind")
    for number, name in ((0, "KIND_AUTO"), (1, "KIND_GPU"), (2, "KIND_CPU")):
        kind.value.add(name=name, number=number)
    tensor = [
        ("name", 1, F.TYPE_STRING, None, False),
        ("data_type", 2, F.TYPE_ENUM, ".inference.DataType", False),
    ]
    message("ModelInput", [*tensor, ("dims", 4, F.TYPE_INT64, None, True)])
    message("ModelOutput", [*tensor, ("dims", 3, F.TYPE_INT64, None, True)])
    message("ModelDynamicBatching", [("max_queue_delay_microseconds", 3, F.TYPE_UINT64, None, False)])
    message("ModelParameter", [("string_value", 1, F.TYPE_STRING, None, False)])
    config = message(
        "ModelConfig",
        [
            ("name", 1, F.TYPE_STRING, None, False),
            ("platform", 2, F.TYPE_STRING, None, False),
            ("backend", 17, F.TYPE_STRING, None, False),
            ("max_batch_size", 4, F.TYPE_INT32, None, False),
            ("input", 5, F.TYPE_MESSAGE, ".inference.ModelInput", True),
            ("output", 6, F.TYPE_MESSAGE, ".inference.ModelOutput", True),
            ("instance_group", 7, F.TYPE_MESSAGE, ".inference.ModelInstanceGroup", True),
            ("dynamic_batching", 11, F.TYPE_MESSAGE, ".inference.ModelDynamicBatching", False),
            ("parameters", 14, F.TYPE_MESSAGE, ".inference.ModelConfig.ParametersEntry", True),
        ],
    )
    entry = config.nested_type.add(name="ParametersEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, type_name=".inference.ModelParameter")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


def parsed_config(folder: Path):  # type: ignore[no-untyped-def]
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_class()())


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    entries = (
        ("denoise-color", "--mem-budget", "700MiB", "--threads", "2"),
        ("denoise-gray", "--flavor", "onnx"),
        ("denoise-gray", "--name", "gray16", "--image-dtype", "uint16"),
    )
    for args in entries:
        result = cli("triton-repo", *args, "-o", str(repo))
        assert result.returncode == 0, result.stderr
    return repo


def test_python_flavour_config_and_files(repository: Path) -> None:
    folder = repository / "denoise-color"
    assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.onnx", "model.py"]
    assert (folder / "1" / "model.onnx").read_bytes() == require_entry("denoise-color").onnx.read_bytes()
    config = parsed_config(folder)
    assert (config.name, config.backend, config.max_batch_size) == ("denoise-color", "python", 0)
    assert list(config.input[0].dims) == [-1, -1, -1] and config.input[0].name == "IMAGE"
    assert config.parameters["mem_budget"].string_value == "700MiB"
    assert config.parameters["effrestore.multiple_of"].string_value == "8"
    assert not list(repository.glob(".*"))  # no staging folder left behind


def test_onnx_flavour_runs_batched_tiles(repository: Path) -> None:
    folder = repository / "denoise-gray"
    config = parsed_config(folder)
    assert (config.platform, config.max_batch_size) == ("onnxruntime_onnx", 8)
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert config.input[0].name == session.get_inputs()[0].name
    assert config.output[0].name == session.get_outputs()[0].name
    channels = config.input[0].dims[0]
    batch = np.random.default_rng(0).random((3, channels, 64, 48), dtype=np.float32)  # what the batcher sends
    (restored,) = session.run(None, {config.input[0].name: batch})
    assert restored.shape == (3, config.output[0].dims[0], 64, 48)


def fake_triton_utils() -> types.ModuleType:
    """Triton's Python-backend utilities, as far as its documentation defines the calls the model makes."""
    utils = types.ModuleType("triton_python_backend_utils")

    class Tensor:
        def __init__(self, name: str, array: np.ndarray) -> None:
            self._name, self._array = name, array

        def name(self) -> str:
            return self._name

        def as_numpy(self) -> np.ndarray:
            return self._array

    class TritonError(Exception):
        UNKNOWN, INTERNAL, NOT_FOUND, INVALID_ARG = 0, 1, 2, 3

        def __init__(self, message: str, code: int = 1) -> None:
            super().__init__(message)
            self._code = code

        def message(self) -> str:
            return str(self)

        def code(self) -> int:
            return self._code

    class InferenceResponse:
        def __init__(self, output_tensors: list[Tensor], error: TritonError | None = None) -> None:
            self.output_tensors, self.error = output_tensors, error

    def get_input_tensor_by_name(request: list[Tensor], name: str) -> Tensor | None:
        return next((t for t in request if t.name() == name), None)

    utils.Tensor, utils.TritonError, utils.InferenceResponse = Tensor, TritonError, InferenceResponse  # type: ignore[attr-defined]
    utils.get_input_tensor_by_name = get_input_tensor_by_name  # type: ignore[attr-defined]
    return utils


def test_gpu_instances_get_their_own_device(repository: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the real server cannot go here (no GPU): a KIND_GPU instance asks for its own device id."""
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake_triton_utils())
    asked: list[str | None] = []

    def load(*args: object, device: str | None = None, **kwargs: object) -> Restorer:
        asked.append(device)
        return real_load(*args, device="cpu", **kwargs)

    real_load = Restorer.load
    monkeypatch.setattr(Restorer, "load", staticmethod(load))
    namespace: dict = {}
    exec(compile((repository / "denoise-color" / "1" / "model.py").read_text(), "model.py", "exec"), namespace)
    parameters = {
        key: {"string_value": p.string_value}
        for key, p in parsed_config(repository / "denoise-color").parameters.items()
    }
    arguments = {
        "model_config": json.dumps(
            {"parameters": {**parameters, "mem_budget": {"string_value": ""}, "allow_numpy2": {"string_value": "true"}}}
        ),
        "model_repository": str(repository / "denoise-color"),
        "model_version": "1",
        "model_instance_kind": "GPU",
        "model_instance_device_id": "1",
    }
    namespace["TritonPythonModel"]().initialize(arguments)
    assert asked == ["cuda:1"]


def test_onnxruntime_gets_the_gpu_id() -> None:
    from effrestore.runtime.backends.onnxruntime import _providers

    providers, shrink = _providers("cuda:1")
    assert providers[0] == ("CUDAExecutionProvider", {"device_id": "1"}) and shrink == "cpu:0;gpu:1"
    with pytest.raises(ConfigError, match=r"cuda\[:N\]"):
        _providers("cuda:x")


def test_numpy_2_is_refused_where_triton_cannot_serve_it() -> None:
    from effrestore.serving.triton_python import check_numpy

    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip("numpy < 2 here")
    with pytest.raises(ConfigError, match="returns empty responses with numpy 2"):
        check_numpy(allowed=False)
    check_numpy(allowed=True)


def test_refusals(repository: Path, tmp_path: Path) -> None:
    config = repository / "denoise-color" / "config.pbtxt"
    before = config.read_text()
    again = cli("triton-repo", "denoise-color", "-o", str(repository), "--flavor", "onnx")
    assert again.returncode == 2 and "--overwrite" in again.stderr and config.read_text() == before
    checkpoint = cli("triton-repo", str(require_entry("denoise-color").checkpoint), "-o", str(tmp_path))
    assert checkpoint.returncode == 2 and "effrestore export" in checkpoint.stderr
    flavour = cli("triton-repo", "denoise-color", "-o", str(tmp_path), "--flavor", "tf")
    assert flavour.returncode == 2 and "python, onnx, tensorrt" in flavour.stderr
    dtype = cli("triton-repo", "denoise-color", "-o", str(tmp_path), "--image-dtype", "float32")
    assert dtype.returncode == 2 and "uint8 or uint16" in dtype.stderr
    for option, words in [
        (["--name", "my model"], "must be letters, digits"),
        (["--mem-budget", "lots"], "cannot read 'lots' as a memory size"),
        (["--threads", "-3"], "threads"),
        (["--instances", "0"], "--instances must be at least 1"),
        (["--mem-budget", "10MiB"], "cannot be met"),
        (["--python-env", sys.prefix], "returns empty responses with numpy 2"),
        (["--python-env", str(tmp_path)], "not a Python environment"),
    ]:
        refused = cli("triton-repo", "denoise-color", "-o", str(tmp_path), *option)
        assert refused.returncode == 2 and words in refused.stderr, (option, refused.stderr)
    assert not list(tmp_path.iterdir())


def test_an_interrupted_write_leaves_nothing_in_the_repository(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from effrestore.serving import triton

    before = sorted(p.name for p in repository.iterdir())
    beside = sorted(p.name for p in repository.parent.iterdir())

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(triton.shutil, "copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        triton.write_triton_model(require_entry("denoise-gray").onnx, repository, "late")
    assert sorted(p.name for p in repository.iterdir()) == before  # no hidden folder Triton would load
    assert sorted(p.name for p in repository.parent.iterdir()) == beside


def test_onnx_flavour_describes_tiling(repository: Path) -> None:
    parameters = {k: p.string_value for k, p in parsed_config(repository / "denoise-gray").parameters.items()}
    meta = Restorer.load(require_entry("denoise-gray").onnx).meta
    assert parameters["effrestore.tiling"] == meta.tiling
    assert json.loads(parameters["effrestore.value_range"]) == list(meta.value_range)
    assert parameters["effrestore.receptive_field"] == (
        "" if meta.receptive_field is None else str(meta.receptive_field)
    )


def test_external_data_travels_with_the_model(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "weights").mkdir(parents=True)
    model = onnx.load(str(require_entry("denoise-gray").onnx))
    onnx.save(model, str(source / "big.onnx"), save_as_external_data=True, location="weights/big.bin")
    result = cli("triton-repo", str(source / "big.onnx"), "-o", str(tmp_path / "repo"), "--flavor", "onnx")
    assert result.returncode == 0, result.stderr
    version = tmp_path / "repo" / "big" / "1"
    assert (version / "weights" / "big.bin").read_bytes() == (source / "weights" / "big.bin").read_bytes()
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).random((1, 1, 32, 32), dtype=np.float32)
    reference = ort.InferenceSession(str(require_entry("denoise-gray").onnx), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    np.testing.assert_array_equal(session.run(None, {name: batch})[0], reference.run(None, {name: batch})[0])


def test_triton_repo_works_without_torch(tmp_path: Path) -> None:
    """The runtime-only install (no torch, no export extra) writes entries: external-data checks use onnx,
    a base dependency."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from effrestore.cli.main import main\n"
        f"sys.exit(main(['triton-repo', 'denoise-gray', '--flavor', 'onnx', '-o', {str(tmp_path)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "denoise-gray" / "1" / "model.onnx").exists()


def test_triton_serve_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    missing = cli("triton-serve", str(tmp_path / "nothing"), "--server-env", sys.prefix)
    assert missing.returncode == 2 and "triton-repo" in missing.stderr
    no_server = cli("triton-serve", str(tmp_path), "--server-env", sys.prefix)
    assert no_server.returncode == 2 and "nvidia-pytriton" in no_server.stderr
