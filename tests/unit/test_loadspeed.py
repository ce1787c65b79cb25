"""Time to load: page-cache residency (mincore on real files), recorded rates, the estimate."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from console.core.estimate import EstimateError, load_seconds
from console.host import loadspeed

MIB = 1024**2
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore is Linux")


def test_load_seconds_splits_cached_and_disk_bytes() -> None:
    assert load_seconds(10 * 10**9, 10 * 10**9, 5e9, 1e9) == pytest.approx(2.0)
    assert load_seconds(10 * 10**9, 0, 5e9, 1e9) == pytest.approx(10.0)
    assert load_seconds(10 * 10**9, 4 * 10**9, 4e9, 2e9) == pytest.approx(1.0 + 3.0)
    assert load_seconds(10, 50, 5.0, 1.0) == pytest.approx(2.0)  # cached counted once
    assert load_seconds(0, 0, 1.0, 1.0) == 0.0
    with pytest.raises(EstimateError):
        load_seconds(10, 0, 0.0, 1.0)
    with pytest.raises(EstimateError):
        load_seconds(-1, 0, 1.0, 1.0)


@linux_only
def test_cached_bytes_sees_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(8 * MIB)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # clean pages: DONTNEED can drop them
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        dropped = loadspeed.cached_bytes(path)
        assert dropped is not None
        os.pread(fd, 4 * MIB, 0)  # read the first half back in
    finally:
        os.close(fd)
    half = loadspeed.cached_bytes(path)
    assert path.read_bytes() == data
    full = loadspeed.cached_bytes(path)
    assert full == 8 * MIB
    assert half is not None and half >= 4 * MIB
    # the drop may leave a few pages (readahead, another reader): it must have dropped most
    assert dropped < 4 * MIB
    (tmp_path / "empty").write_bytes(b"")
    assert loadspeed.cached_bytes(tmp_path / "empty") == 0
    assert loadspeed.cached_bytes(tmp_path / "absent") is None
    total, cached = loadspeed.cache_state([path, tmp_path / "empty"])
    assert (total, cached) == (8 * MIB, 8 * MIB)


def test_record_keeps_warm_and_cold_rates(tmp_path: Path) -> None:
    store = tmp_path / "speed.json"
    big = 1 << 30
    assert loadspeed.record("fast", "cuda", cached_fraction=1.0, nbytes=big, seconds=0.1,
                            path=store)
    assert loadspeed.record("fast", "cuda", cached_fraction=0.95, nbytes=big, seconds=0.2,
                            path=store)
    assert loadspeed.record("fast", "cuda", cached_fraction=0.0, nbytes=big, seconds=1.0,
                            path=store)
    # says nothing about either rate: half cached, tiny, unknown residency
    assert not loadspeed.record("fast", "cuda", cached_fraction=0.5, nbytes=big, seconds=1.0,
                                path=store)
    assert not loadspeed.record("fast", "cuda", cached_fraction=1.0, nbytes=MIB, seconds=0.1,
                                path=store)
    assert not loadspeed.record("fast", "cuda", cached_fraction=None, nbytes=big, seconds=1.0,
                                path=store)
    warm = loadspeed.measured_rate("fast", "cuda", "warm", path=store)
    assert warm == pytest.approx((big / 0.1 + big / 0.2) / 2)  # median of two
    assert loadspeed.measured_rate("fast", "cuda", "cold", path=store) == pytest.approx(big)
    assert loadspeed.measured_rate("stock", "cuda", "warm", path=store) is None
    for i in range(10):
        loadspeed.record("stock", "cpu", cached_fraction=1.0, nbytes=big, seconds=1.0 + i,
                         path=store)
    data = json.loads(store.read_text())
    assert len(data["rates"]["stock/cpu/warm"]) == loadspeed.KEEP  # the last five


def test_time_to_load_uses_measured_rates(tmp_path: Path) -> None:
    store = tmp_path / "speed.json"
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(os.urandom(2 * MIB))
    before = loadspeed.time_to_load([weights], "fast", "cuda", path=store)
    assert (before.warm_source, before.cold_source) == ("default", "default")
    loadspeed.record("fast", "cuda", cached_fraction=1.0, nbytes=1 << 30, seconds=0.05,
                     path=store)
    loadspeed.record("stock", "cuda", cached_fraction=0.0, nbytes=1 << 30, seconds=1.0,
                     path=store)
    after = loadspeed.time_to_load([weights], "fast", "cuda", path=store)
    assert after.warm_source == "measured"
    assert after.warm_bytes_per_s == pytest.approx((1 << 30) / 0.05)
    assert after.cold_source == "measured"  # the stock path's cold rate stands in
    assert after.total_bytes == 2 * MIB
    if after.cached_bytes is not None:
        expected = load_seconds(after.total_bytes, after.cached_bytes, after.warm_bytes_per_s,
                                after.cold_bytes_per_s)
        assert after.seconds == pytest.approx(expected)
    assert "GB/s" in after.line()
    assert json.dumps(after.to_json_dict())


def test_broken_store_is_ignored(tmp_path: Path) -> None:
    store = tmp_path / "speed.json"
    store.write_text("{not json")
    assert loadspeed.measured_rate("fast", "cuda", "warm", path=store) is None
    assert loadspeed.record("fast", "cuda", cached_fraction=1.0, nbytes=1 << 30, seconds=1.0,
                            path=store)
    assert loadspeed.measured_rate("fast", "cuda", "warm", path=store) == pytest.approx(1 << 30)
