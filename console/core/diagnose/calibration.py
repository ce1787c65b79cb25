"""From a raw ranking score to a calibrated confidence: the chance that the cause is right.

The raw scores (a rule's confidence, raised by agreeing messages and clues; clues alone scaled
below) rank well but are not probabilities. `calibration.json` holds monotone maps, fitted by
`benchmarks/diagnose_calibrate.py` (a logistic curve of "the top cause is right" on the logit
of its raw score, written as knots) on the latest batches of tune logs as they scored before any
rule was written for them (tests/fixtures/corpus/fresh-scores.jsonl,
benchmarks/diagnose_fresh.py): a log the console
meets is new to its rules too, and the tune logs' own scores are optimistic. A top cause that
is a lead (no message named it: clues, words, priors) has a map of its own, `lead_knots`, fitted
on the fresh tops that were leads (since session 31): the raw scores of leads and of named
causes are on different scales (clue leads of raw 0.2-0.4 were right 81-88% of the time, named
causes of raw 0.3-0.5 17-68%), so no one monotone map fits both. The runners-up's
map is fitted on the tune split. `calibrate(raw, lead)` interpolates the map. The
held-back split checks it (tests/unit/test_diagnose_accuracy.py): within each decile of stated
confidence with enough logs, the stated confidence and the hit rate differ by at most 10 points
(or by no more than chance explains over the deciles, Holm's test at 5%).
"""

from __future__ import annotations

import functools
import itertools
import json
from bisect import bisect_right
from importlib import resources

_FILE = "calibration.json"


_IDENTITY = ((0.0, 0.0), (1.0, 1.0))


def _read(key: str) -> tuple[tuple[float, float], ...] | None:
    """The file's knots under `key`; None when the file or the key is not there."""
    path = resources.files("console.core.diagnose").joinpath(_FILE)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if key not in data:
        return None
    points = tuple((float(a), float(b)) for a, b in data[key])
    if len(points) < 2 or any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
        raise ValueError(
            f"{_FILE}: {key!r} must be at least two (raw, calibrated) pairs, raw increasing; "
            "rerun benchmarks/diagnose_calibrate.py --write"
        )
    return points


@functools.cache
def knots() -> tuple[tuple[float, float], ...]:
    """(raw, calibrated) points for the top cause, raw increasing; identity when none written."""
    return _read("knots") or _IDENTITY


@functools.cache
def lead_knots() -> tuple[tuple[float, float], ...]:
    """(raw, calibrated) points for a top cause that is a lead; the top cause's map when none
    was written."""
    return _read("lead_knots") or knots()


@functools.cache
def runner_knots() -> tuple[tuple[float, float], ...]:
    """(share, calibrated) points for the runners-up (fitted on their hit rate, as the top
    cause's are); identity when none was written."""
    return _read("runner_knots") or _IDENTITY


def interpolate(points: tuple[tuple[float, float], ...], raw: float) -> float:
    if raw <= points[0][0]:
        return points[0][1]
    if raw >= points[-1][0]:
        return points[-1][1]
    i = bisect_right([p[0] for p in points], raw) - 1
    (x0, y0), (x1, y1) = points[i], points[i + 1]
    return y0 + (y1 - y0) * (raw - x0) / (x1 - x0)


def calibrate(raw: float, lead: bool = False) -> float:
    """The calibrated confidence for a raw score (clamped to the fitted range, at most 0.99):
    by the leads' map for a lead, else by the named causes' map."""
    return min(0.99, interpolate(lead_knots() if lead else knots(), raw))


def calibrate_ranked(raw: dict[str, float],
                     leads: frozenset[str] | set[str] = frozenset()) -> dict[str, float]:
    """Calibrated confidences for ranked candidates (`leads`: those no message named). The top
    one gets `calibrate(raw, lead)`: the chance that it is right. The others share what is left
    (1 - that chance) in proportion to their raw scores, never more than their own calibrated
    value nor the one ranked above, and that share goes through `runner_knots` (the
    runners-up's own fit on the tune split)."""
    if not raw:
        return {}
    ranked = sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))
    top_id, top_raw = ranked[0]
    p_top = calibrate(top_raw, top_id in leads)
    rest = sum(v for _, v in ranked[1:])
    out = {top_id: p_top}
    previous = p_top
    runners = runner_knots()
    for cause, value in ranked[1:]:
        share = (1.0 - p_top) * value / rest if rest > 0 else 0.0
        stated = interpolate(runners, min(calibrate(value, cause in leads), share))
        previous = max(0.01, min(stated, previous))
        out[cause] = previous
    return out  # in the order of the raw scores, confidences never increasing
