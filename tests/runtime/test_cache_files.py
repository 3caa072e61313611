"""Every JSON cache goes through one validating loader: whatever a cache file holds (forged, corrupt, from
another version), an entry reads as a valid value or as absent, never as an exception or a wild number."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effrestore.cache_root import cache_root
from effrestore.runtime.backends.openvino import VERDICTS
from effrestore.runtime.cache import CacheFile
from effrestore.runtime.planner import FITS, PACE_LIMITS, CallFit

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.text(max_size=4), st.sampled_from([0, 1, 4096, 10**30, -1]),
)  # fmt: skip
plausible_probes = st.lists(st.tuples(st.integers(1, 2**22), st.integers(0, 2**40)).map(list), max_size=4)
pair_lists = st.one_of(st.lists(st.lists(numbers, min_size=0, max_size=3), max_size=4), numbers)
fit_entries = st.one_of(
    st.fixed_dictionaries({"probes": pair_lists, "timings": pair_lists, "startups": pair_lists, "pace": numbers}),
    st.fixed_dictionaries({"probes": plausible_probes}),
    numbers,
    st.lists(numbers, max_size=3),
)  # fmt: skip
verdict_entries = st.one_of(st.fixed_dictionaries({"agrees": numbers, "psnr_db": numbers}), numbers)


@contextmanager
def cache_holding(cache: CacheFile, entry: object) -> Iterator[CacheFile]:
    """`cache` with `entry` stored under the key "k", in a cache folder of its own."""
    previous = os.environ.get("EFFRESTORE_CACHE_DIR")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["EFFRESTORE_CACHE_DIR"] = folder
        try:
            cache.path.parent.mkdir(parents=True, exist_ok=True)
            cache.path.write_text(json.dumps({"k": entry}))
            yield cache
        finally:
            if previous is None:
                del os.environ["EFFRESTORE_CACHE_DIR"]
            else:
                os.environ["EFFRESTORE_CACHE_DIR"] = previous


@FAST
@given(entry=fit_entries)
def test_a_fit_entry_reads_as_a_real_measurement_or_as_absent(entry: object) -> None:
    with cache_holding(FITS, entry) as cache:
        fit = cache.get("k")
    if fit is None:
        return
    assert isinstance(fit, CallFit) and fit.probes
    for pixels, growth in fit.probes:
        assert 1 <= pixels <= 2**40 and 4 * pixels <= growth <= 2**46
    assert all(math.isfinite(seconds) and seconds >= 0 for _, seconds in (*fit.timings, *fit.startups))
    assert PACE_LIMITS[0] <= fit.pace <= PACE_LIMITS[1]
    assert math.isfinite(fit.predict(1 << 20)) and fit.predict(1 << 20) >= 0


@FAST
@given(entry=verdict_entries)
def test_a_precision_verdict_reads_as_a_verdict_or_as_absent(entry: object) -> None:
    with cache_holding(VERDICTS, entry) as cache:
        verdict = cache.get("k")
    if verdict is None:
        return
    agrees, psnr_db = verdict
    assert isinstance(agrees, bool) and psnr_db >= 0 and not math.isnan(psnr_db)


def test_a_bad_entry_is_dropped_and_a_good_one_replaces_it() -> None:
    with cache_holding(VERDICTS, {"agrees": True, "psnr_db": "abc"}) as cache:
        assert cache.get("k") is None
        cache.put("k", {"agrees": True, "psnr_db": 61.5})
        assert cache.get("k") == (True, 61.5)
        cache.drop("k")
        assert cache.get("k") is None and json.loads(cache.path.read_text()) == {}


def test_one_variable_moves_every_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from effrestore.trt import cache as engine_cache
    from effrestore.trt import runtime_cache

    monkeypatch.setenv("EFFRESTORE_CACHE_DIR", str(tmp_path))
    folders = [FITS.path.parent, VERDICTS.path.parent, engine_cache.default_cache_dir().parent,
               runtime_cache.default_cache_dir().parent]  # fmt: skip
    assert folders == [tmp_path] * 4
    monkeypatch.delenv("EFFRESTORE_CACHE_DIR")
    assert cache_root() != tmp_path and cache_root().name == "effrestore"
