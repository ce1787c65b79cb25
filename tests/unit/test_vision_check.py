"""The pure pieces of benchmarks/vision_estimate.py (console/core/vision_check.py)."""

from __future__ import annotations

import pytest

from console.core import vision
from console.core import vision_check as vc

GIB = 1024**3


def test_sizes_and_counts_parse_and_bad_ones_name_the_flag() -> None:
    assert vc.parse_sizes("1080x2400, 1600X3120") == [(1080, 2400), (1600, 3120)]
    assert vc.parse_counts("1,4,10") == [1, 4, 10]
    for bad in ("1080", "1080x", "x2400", "0x10", "10x-3", "axb"):
        with pytest.raises(vc.CheckError, match=r"--sizes: .* WIDTHxHEIGHT"):
            vc.parse_sizes(bad)
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(vc.CheckError, match="--counts"):
            vc.parse_counts(f"1,{bad}")


def test_prompt_peak_is_the_larger_of_encoder_and_prefill_plus_embeddings_and_kv() -> None:
    est = {"encoder_bytes": 700, "embeddings_bytes": 50, "pixel_bytes": 300}
    # the encoder's working set is larger than the prefill's: it sets the peak
    assert vc.prompt_peak_bytes(est, 400, 20, pixels_in_measurement=False) == 700 + 50 + 20
    # the prefill's is larger
    assert vc.prompt_peak_bytes(est, 900, 20, pixels_in_measurement=False) == 900 + 50 + 20
    # NVML's base is read before pixel_values exist: they count on CUDA
    assert vc.prompt_peak_bytes(est, 900, 20, pixels_in_measurement=True) == 900 + 50 + 20 + 300
    # the same rule as the estimate the guard adds (vision.added_peak_bytes) over the prefill
    cfg = {"model_type": "glm4v", "vision_config": {
        "hidden_size": 1536, "num_heads": 12, "depth": 24, "out_hidden_size": 4096,
        "intermediate_size": 13696}}
    limits = vision.processor_limits(cfg, {"size": {"shortest_edge": 12544,
                                                    "longest_edge": 5_000_000}})
    v = vision.estimate(vision.vision_geometry(cfg), limits, [(2400, 1080)] * 4)
    for text in (10**6, 10**10):
        assert vc.prompt_peak_bytes(v.to_json_dict(), text, 0, pixels_in_measurement=True) \
            == text + vision.added_peak_bytes(v, text)


def test_fits_says_why_with_the_numbers() -> None:
    ok = vc.fits(10 * GIB, 100 * GIB, 0.1, "H200")
    assert ok.ok and "10.0 GiB" in ok.reason and "H200" in ok.reason
    no = vc.fits(95 * GIB, 100 * GIB, 0.1, "H200")
    assert not no.ok
    assert "does not fit" in no.reason and "95.0 GiB" in no.reason and "100.0 GiB" in no.reason
    assert vc.fits(100 * GIB, 100 * GIB, 0.0).ok  # exactly full, no margin
    unknown = vc.fits(10 * GIB, None)
    assert unknown.ok and unknown.free_bytes is None and "unknown" in unknown.reason
    assert no.to_json_dict()["need_bytes"] == 95 * GIB


def test_verdict_against_the_target() -> None:
    assert vc.verdict(105, 100) == (pytest.approx(0.05), True)
    err, passed = vc.verdict(106, 100)
    assert err == pytest.approx(0.06) and passed is False
    err, passed = vc.verdict(94, 100, target=0.05)
    assert err == pytest.approx(-0.06) and passed is False
    assert vc.verdict(100, None) == (None, None)
    assert vc.verdict(100, 0) == (None, None)


def test_engine_entry_by_pid_then_the_one_new_process_then_the_device() -> None:
    procs = [(10, 500), (42, 9000), (77, None)]
    assert vc.engine_entry(procs, 42, [10]) == (9000, "process")
    # a PID namespace: NVML lists host pids; the one process new since the engine started
    assert vc.engine_entry([(10, 500), (31337, 9000)], 42, [10]) == (9000, "process-new")
    # an entry without a figure is not a candidate
    assert vc.engine_entry([(10, 500), (31337, 9000), (31338, None)], 42, [10]) \
        == (9000, "process-new")
    # two new processes: cannot tell which is the engine
    assert vc.engine_entry([(10, 500), (31337, 9000), (31338, 7)], 42, [10]) == (None, "device")
    assert vc.engine_entry([], 42, []) == (None, "device")


def test_prompt_peak_adds_the_vision_slack() -> None:
    est = {"encoder_bytes": 500, "embeddings_bytes": 20, "pixel_bytes": 80, "slack_bytes": 300}
    assert vc.prompt_peak_bytes(est, 400, 10, pixels_in_measurement=True) == 910
    old = {k: v for k, v in est.items() if k != "slack_bytes"}  # an engine from before it
    assert vc.prompt_peak_bytes(old, 400, 10, pixels_in_measurement=False) == 530


def test_a_baseline_with_cached_blocks_is_flagged() -> None:
    mib = 1024**2
    clean = vc.baseline_check(2 * mib, 1000 * mib)
    assert clean.clean and clean.limit_bytes == 10 * mib
    edge = vc.baseline_check(10 * mib, 1000 * mib)
    assert edge.clean
    dirty = vc.baseline_check(530 * mib, 4000 * mib)
    assert not dirty.clean and dirty.cached_bytes == 530 * mib
    assert "530.0 MiB of cached blocks" in dirty.reason and "under-measures" in dirty.reason
    small = vc.baseline_check(6 * mib, 10 * mib)  # the floor for small rows
    assert small.clean and small.limit_bytes == vc.MIN_BASELINE_TOLERANCE_BYTES
    assert vc.baseline_check(-5, 100).cached_bytes == 0


def test_the_slack_fit_recovers_a_planted_factor_and_scores_apart() -> None:
    factor = 3.7
    rows = [vc.SlackRow(f"r{i}", est, largest, est + int(factor * largest))
            for i, (est, largest) in enumerate([(700, 100), (2800, 400), (7000, 1000)])]
    k, feasible = vc.fit_slack(rows[:2])
    assert feasible and k == pytest.approx(factor, rel=1e-3)
    scored = vc.rescore(rows, k, ["r0", "r1"])
    assert [s["in_sample"] for s in scored] == [True, True, False]
    assert all(abs(s["error"]) < 1e-3 for s in scored)
    # noisy rows: the least worst error, none under -2%
    m = 1024**2
    noisy = [vc.SlackRow("a", 700 * m, 100 * m, 1100 * m),
             vc.SlackRow("b", 2800 * m, 400 * m, 4700 * m)]
    k, _ = vc.fit_slack(noisy)
    errors = [(vc.with_slack(r, k) - r.measured_bytes) / r.measured_bytes for r in noisy]
    assert min(errors) >= -0.02 - 1e-9
    assert errors[1] == pytest.approx(-0.02, abs=1e-6)  # the floor binds: b needs 4.75
    with pytest.raises(vc.CheckError, match="no measured row"):
        vc.fit_slack([])
