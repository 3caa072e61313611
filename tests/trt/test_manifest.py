"""The engine manifest: round trip and a schema check that names what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from effrestore.errors import EngineError
from effrestore.trt.manifest import SCHEMA, EngineManifest, Plugin, manifest_path, read_manifest

from .conftest import write_engine


def test_round_trip(tmp_path: Path) -> None:
    plan = write_engine(tmp_path, plugins=(Plugin("MDTA", "effrestore", "1"),))
    manifest = read_manifest(plan)
    assert manifest.to_dict()["schema"] == SCHEMA
    assert EngineManifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert manifest.plugins == (Plugin("MDTA", "effrestore", "1"),)
    assert [p.max_tile for p in manifest.profiles] == [256, 512] and manifest.device_memory[1] == 190_000_000


def _broken(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    plan = write_engine(tmp_path)
    path = manifest_path(plan)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return plan


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("tensorrt_version"), "missing 'tensorrt_version'"),
        (lambda d: d["gpu"].pop("compute_capabilities"), "missing gpu.'compute_capabilities'"),
        (lambda d: d.update(schema="other/9"), "is not 'effrestore.engine-manifest/2'"),
        (lambda d: d["profiles"][0].update(device_memory="lots"), "device_memory must be int"),
        (lambda d: d["profiles"][0].update(device_memory=True), "must be an integer"),
        (lambda d: d["profiles"][1].update(max=[1, 3, 512]), "must be 4 positive integers"),
        (lambda d: d.update(profiles=[]), "'profiles' is empty"),
        (lambda d: d["builder"].update(hardware_compat="yes"), "hardware_compat must be bool"),
        (lambda d: d.update(plugins=[{"name": "MDTA"}]), "missing plugins"),
    ],
)
def test_schema_errors(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError, match=message):
        read_manifest(_broken(tmp_path, edit))


def test_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no manifest beside the engine"):
        read_manifest(tmp_path / "nothing.plan")
    plan = write_engine(tmp_path)
    manifest_path(plan).write_text("{not json")
    with pytest.raises(EngineError, match="not valid JSON"):
        read_manifest(plan)
