"""Property-based: a manifest with any field replaced by any JSON value, and random bytes as an engine, end
in an `EngineError` or a manifest / header that holds what the file said, never another exception."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effrestore.errors import EngineError
from effrestore.trt.manifest import EngineManifest, manifest_path, read_manifest
from effrestore.trt.plan_header import read_plan_header

from .conftest import write_engine

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into `data` (dict keys and list indices)."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    found = []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


def _valid_manifest() -> dict:
    with tempfile.TemporaryDirectory() as folder:
        return json.loads(manifest_path(write_engine(Path(folder))).read_text())


VALID = _valid_manifest()
PATHS = _paths(VALID)


@FAST
@given(where=st.sampled_from(PATHS), value=json_values, drop=st.booleans())
def test_any_field_replaced_or_dropped(where: tuple, value: Any, drop: bool) -> None:
    data = json.loads(json.dumps(VALID))
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    if drop and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    try:
        manifest = EngineManifest.from_dict(data, "m.json")
    except EngineError as exc:
        assert "m.json" in str(exc)
        return
    assert EngineManifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest


@FAST
@given(data=st.binary(max_size=256), manifest=st.binary(max_size=256))
def test_random_bytes_as_an_engine_and_its_manifest(data: bytes, manifest: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        plan = Path(folder) / "e.plan"
        plan.write_bytes(data)
        manifest_path(plan).write_bytes(manifest)
        header = read_plan_header(plan)
        assert header.size == len(data)
        if header.flavour is None:
            assert header.tensorrt_version is None
        with contextlib.suppress(EngineError):  # an error, or a manifest: never another exception
            read_manifest(plan)
