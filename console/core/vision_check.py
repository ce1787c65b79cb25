"""Checking the vision estimate against a measured peak (benchmarks/vision_estimate.py): the
pieces that are pure, so they are unit-tested apart from the GPU run.

- `parse_sizes` / `parse_counts`: the command line's WIDTHxHEIGHT and count lists;
- `prompt_peak_bytes`: what an image prompt's one-token generate adds at its peak, as the
  engine measures it. The encoder's working set is freed before the language model's prefill
  over the whole prompt runs, so the peak holds the larger of the two (console/core/vision.py
  `added_peak_bytes`), plus the merged embeddings and the prompt's KV; plus pixel_values where
  the measurement started before they were made (NVML sampled from before the command; on the
  CPU the peak is reset after the inputs are built);
- `fits`: whether a prompt's estimated bytes fit in the free memory (with a margin), and the
  numbers when not;
- `verdict`: the error against the measured peak and pass / fail at the target;
- `baseline_check`: whether a row's baseline is free of cached blocks (a cached, unallocated
  block of the pool is reused by the prompt without NVML growing: the row under-measures);
- `fit_slack` / `rescore`: the vision slack factor fitted on some measured rows (the same rule
  as the language estimate's split fit: the least worst error, none under -2%) and the rows
  re-scored with it, each marked in or out of sample;
- `engine_entry`: the engine process's used bytes in NVML's running-process list: by pid, else
  (a PID namespace: NVML lists host pids) the one process that appeared since the engine
  started, else none (the caller falls back to the device's used bytes and says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from console.core.estimate_fit import minimax_factor
from console.core.units import fmt_bytes

DEFAULT_TARGET = 0.05  # issue 19: the estimate within 5% of the engine process's NVML peak
DEFAULT_FIT_MARGIN = 0.10  # run a prompt only when its estimate + 10% is free
DEFAULT_BASELINE_TOLERANCE = 0.01  # cached blocks at a row's start: at most 1% of its estimate
MIN_BASELINE_TOLERANCE_BYTES = 8 * 1024**2  # small-pool segments that cannot be released
LOWER_PCT = -2.0  # the fit: no fitted row under by more than this


class CheckError(ValueError):
    """A bad --sizes / --counts value (one line naming it and the fix)."""


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """"1080x2400,1600x3120" -> [(1080, 2400), (1600, 3120)] as (width, height)."""
    sizes: list[tuple[int, int]] = []
    for item in (part.strip() for part in text.split(",")):
        w, sep, h = item.lower().partition("x")
        if not sep or not w.isdigit() or not h.isdigit() or int(w) <= 0 or int(h) <= 0:
            raise CheckError(f"--sizes: {item!r} is not WIDTHxHEIGHT in pixels "
                             "(e.g. 1080x2400)")
        sizes.append((int(w), int(h)))
    return sizes


def parse_counts(text: str) -> list[int]:
    """"1,4,10" -> [1, 4, 10] (image counts per prompt)."""
    counts: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item.isdigit() or int(item) <= 0:
            raise CheckError(f"--counts: {item!r} is not a positive whole number of images "
                             "(e.g. 1,4,10)")
        counts.append(int(item))
    return counts


def prompt_peak_bytes(vision_estimate: Mapping[str, Any], text_activation_bytes: int,
                      kv_bytes: int, *, pixels_in_measurement: bool) -> int:
    """The estimated peak growth of an image prompt's generate (see the module docstring).
    `vision_estimate`: console.core.vision.VisionEstimate.to_json_dict() (the engine's
    `vision_estimate` field)."""
    peak = (max(int(vision_estimate.get("encoder_bytes") or 0), text_activation_bytes)
            + int(vision_estimate.get("embeddings_bytes") or 0) + kv_bytes
            + int(vision_estimate.get("slack_bytes") or 0))
    if pixels_in_measurement:
        peak += int(vision_estimate.get("pixel_bytes") or 0)
    return peak


@dataclass(frozen=True, slots=True)
class Fit:
    ok: bool
    need_bytes: int  # the estimate
    free_bytes: int | None  # None: unknown (then it runs)
    margin: float
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def fits(need_bytes: int, free_bytes: int | None, margin: float = DEFAULT_FIT_MARGIN,
         where: str = "the GPU") -> Fit:
    """Whether `need_bytes` x (1 + margin) fits in `free_bytes` of `where`."""
    if free_bytes is None:
        return Fit(True, need_bytes, None, margin, f"free memory of {where} unknown: run it")
    wanted = int(need_bytes * (1 + margin))
    if wanted <= free_bytes:
        return Fit(True, need_bytes, free_bytes, margin,
                   f"needs {fmt_bytes(need_bytes)} (+{margin:.0%}), {fmt_bytes(free_bytes)} "
                   f"free on {where}")
    return Fit(False, need_bytes, free_bytes, margin,
               f"does not fit: the estimate is {fmt_bytes(need_bytes)} (+{margin:.0%} = "
               f"{fmt_bytes(wanted)}), only {fmt_bytes(free_bytes)} free on {where}")


def verdict(estimate_bytes: int, measured_bytes: int | None,
            target: float = DEFAULT_TARGET) -> tuple[float | None, bool | None]:
    """(error as a fraction of the measured peak, within the target); (None, None) when
    nothing was measured."""
    if not measured_bytes or measured_bytes <= 0:
        return None, None
    error = (estimate_bytes - measured_bytes) / measured_bytes
    return error, abs(error) <= target


def engine_entry(procs: Iterable[tuple[int, int | None]], pid: int,
                 pids_before: Iterable[int]) -> tuple[int | None, str]:
    """The engine's used bytes from NVML's (pid, usedGpuMemory) list and where they came from:
    "process" (its pid is listed), "process-new" (its pid is not, but exactly one process with
    a figure appeared since `pids_before` was read: a PID namespace), or (None, "device")."""
    listed: list[tuple[int, int]] = [(p, int(used)) for p, used in procs if used is not None]
    for p, used in listed:
        if p == pid:
            return used, "process"
    before = set(pids_before)
    new = [used for p, used in listed if p not in before]
    if len(new) == 1:
        return new[0], "process-new"
    return None, "device"


@dataclass(frozen=True, slots=True)
class Baseline:
    clean: bool
    cached_bytes: int  # cached, unallocated bytes of the pool at the row's start
    limit_bytes: int
    reason: str

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_check(cached_bytes: int, estimate_bytes: int,
                   tolerance: float = DEFAULT_BASELINE_TOLERANCE) -> Baseline:
    """Clean when the pool's cached-but-unallocated bytes at a row's start (reserved -
    allocated, after the engine's empty_cache) are at most `tolerance` x the row's estimate
    (and at least MIN_BASELINE_TOLERANCE_BYTES are allowed): more, and the prompt reuses them
    without NVML growing, so the row under-measures by up to that much."""
    limit = max(MIN_BASELINE_TOLERANCE_BYTES, int(tolerance * max(0, estimate_bytes)))
    cached = max(0, cached_bytes)
    if cached <= limit:
        return Baseline(True, cached, limit, f"{fmt_bytes(cached)} cached at the start")
    return Baseline(False, cached, limit,
                    f"{fmt_bytes(cached)} of cached blocks at the start (over "
                    f"{fmt_bytes(limit)}): the row under-measures by up to that much")


@dataclass(frozen=True, slots=True)
class SlackRow:
    label: str
    estimate_bytes: int  # without the slack term
    largest_tensor_bytes: int  # the slack factor multiplies this
    measured_bytes: int


def fit_slack(rows: Sequence[SlackRow], lower_pct: float = LOWER_PCT) -> tuple[float, bool]:
    """(factor, feasible): the slack factor >= 0 with the least worst |error| over `rows`, none
    under `lower_pct` % (console.core.estimate_fit.minimax_factor)."""
    if not rows:
        raise CheckError("no measured row to fit the vision slack on")
    lines = [((r.estimate_bytes - r.measured_bytes) / r.measured_bytes,
              r.largest_tensor_bytes / r.measured_bytes) for r in rows if r.measured_bytes > 0]
    if not lines:
        raise CheckError("no row with a measured peak to fit the vision slack on")
    return minimax_factor(lines, lower_pct)


def with_slack(row: SlackRow, factor: float) -> int:
    """The row's estimate with the slack term at `factor` (vision.estimate's arithmetic)."""
    return row.estimate_bytes + int(factor * row.largest_tensor_bytes)


def rescore(rows: Sequence[SlackRow], factor: float,
            fitted_on: Iterable[str]) -> list[dict[str, Any]]:
    """Each row with the slack at `factor`: estimate, error, and whether it was fitted on."""
    fitted = set(fitted_on)
    out: list[dict[str, Any]] = []
    for r in rows:
        predicted = with_slack(r, factor)
        error, _ = verdict(predicted, r.measured_bytes)
        out.append({"row": r.label, "estimate_bytes": predicted, "measured_bytes":
                    r.measured_bytes, "error": error, "in_sample": r.label in fitted})
    return out
