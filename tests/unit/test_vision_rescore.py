"""benchmarks/vision_estimate.py --rescore on the H200 run of session 6 (the raw file in
docs/gpu-results): the vision slack fitted on the 1080x2400 rows is the shipped one, and the
1600x3120 rows, which ran after the 10-image row with its cached blocks, are flagged."""

from __future__ import annotations

import json

import pytest

from console.core import vision
from console.core import vision_check as vc
from tests.paths import REPO, benchmark

RUN = REPO / "docs" / "gpu-results" / "session6-h200" / "vision_9b.json"


def test_the_shipped_slack_is_the_1080_rows_fit_and_the_1600_rows_are_flagged(
        capsys: pytest.CaptureFixture[str]) -> None:
    b = benchmark("vision_estimate")
    data = json.loads(RUN.read_text())
    pairs = b.slack_rows(data)
    assert len(pairs) == 6
    # the recorded estimate had no slack; the block MLP tensor is patches x 4096 x 2 B
    for row, sr in pairs:
        assert sr.estimate_bytes == row["estimate_bytes"]
        assert sr.largest_tensor_bytes == row["patches"] * 4096 * 2
    fit_rows = [sr for row, sr in pairs if row["size"] == "1080x2400"]
    k, feasible = vc.fit_slack(fit_rows)
    assert feasible and round(k, 2) == vision.VISION_SLACK_BLOCKS
    first = pairs[0][0]["nvml_base_bytes"]
    states = {sr.label: b.row_baseline(row, first).clean for row, sr in pairs}
    assert states == {"1080x2400 x1": True, "1080x2400 x4": True, "1080x2400 x10": False,
                      "1600x3120 x1": False, "1600x3120 x4": False, "1600x3120 x10": False}
    assert b.rescore(RUN, "1080x2400") == 0
    out = capsys.readouterr().out
    assert "| 1080x2400 x4 | yes | clean |" in out
    assert "| 1600x3120 x1 | no | not clean" in out and "invalid" in out
    assert b.rescore(RUN, "999x999") == 2
    assert "no measured row of size 999x999" in capsys.readouterr().out


def test_a_recorded_pool_at_start_decides_the_baseline() -> None:
    b = benchmark("vision_estimate")
    row = {"estimate_bytes": 4000 * 1024**2, "nvml_base_bytes": 10**12,
           "pool_at_start": {"reserved_bytes": 9, "allocated_bytes": 9, "cached_bytes": 0}}
    assert b.row_baseline(row, 0).clean  # the recorded pool wins over the NVML base's rise
    row["pool_at_start"]["cached_bytes"] = 530 * 1024**2
    assert not b.row_baseline(row, 10**12).clean
